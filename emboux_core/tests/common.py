from odoo.tests import TransactionCase, new_test_user


class EmbouxCase(TransactionCase):
    """Two staff users (Emboux user and manager) and one domain."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Domain = cls.env["emboux.domain"]
        cls.Mailbox = cls.env["emboux.mailbox"]
        cls.Alias = cls.env["emboux.alias"]
        cls.emboux_user = new_test_user(
            cls.env, login="emboux_user", groups="base.group_user,emboux_core.group_emboux_user"
        )
        cls.emboux_manager = new_test_user(
            cls.env,
            login="emboux_manager",
            groups="base.group_user,emboux_core.group_emboux_manager",
        )
        cls.domain = cls.Domain.create({"name": "example.com"})

    @classmethod
    def make_mailbox(cls, email="jane@example.com", password="correct horse battery", **vals):
        return cls.Mailbox.create({"email": email, "password": password, **vals})
