from odoo.tests import new_test_user

from odoo.addons.emboux_core.tests.common import EmbouxCase


class SaasCase(EmbouxCase):
    """Two tenants, each with a domain, a mailbox, an alias and a key; the
    staff users and ``example.com`` (no tenant) of emboux_core's case."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Tenant = cls.env["emboux.tenant"]
        cls.Key = cls.env["emboux.api.key"]
        cls.tenant_a = cls.Tenant._get_or_create("acme", "Acme Corp")
        cls.tenant_b = cls.Tenant._get_or_create("globex", "Globex")
        cls.domain_a = cls.Domain.create({"name": "acme.test", "tenant_id": cls.tenant_a.id})
        cls.domain_b = cls.Domain.create({"name": "globex.test", "tenant_id": cls.tenant_b.id})
        cls.mailbox_a = cls.make_mailbox("ann@acme.test")
        cls.mailbox_b = cls.make_mailbox("bob@globex.test")
        cls.alias_a = cls.Alias.create({"source": "info@acme.test", "destination": "ann@acme.test"})
        cls.alias_b = cls.Alias.create(
            {"source": "info@globex.test", "destination": "bob@globex.test"}
        )
        cls.key_a, cls.token_a = cls.Key.generate(cls.tenant_a, "ci a")
        cls.key_b, cls.token_b = cls.Key.generate(cls.tenant_b, "ci b")

    @classmethod
    def tenant_env(cls, tenant):
        """The environment of the tenant's REST requests (its technical user)."""
        return cls.env(user=tenant.user_id)

    @classmethod
    def make_portal_user(cls, tenant, login):
        """A human portal user: a contact of the tenant's partner."""
        return make_portal_user(cls.env, tenant, login)


def make_portal_user(env, tenant, login, **vals):
    """A human portal user: a contact of the tenant's partner (``vals``
    go to the user, e.g. ``password``)."""
    contact = env["res.partner"].create(
        {"name": login, "parent_id": tenant.partner_id.id, "email": f"{login}@example.org"}
    )
    return new_test_user(
        env, login=login, groups="base.group_portal", partner_id=contact.id, **vals
    )
