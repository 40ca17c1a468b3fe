from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.emboux_core.exceptions import EmbouxConflictError
from odoo.addons.emboux_core.unique import check_unique, unique_key

from .common import EmbouxCase


@tagged("post_install", "-at_install")
class TestUnique(EmbouxCase):
    """The one helper behind every unique key (domain name, mailbox address,
    alias pair, tenant reference, suppressed address, tier code)."""

    def taken(self, keys):
        return EmbouxConflictError("name", f"Taken: {keys!r}")

    def test_given_twice_or_held_by_another(self):
        with self.assertRaises(EmbouxConflictError) as caught:
            check_unique(self.Domain, "name", ["a.test", "b.test", "a.test"], self.taken)
        self.assertEqual(str(caught.exception), "Taken: ['a.test']")
        with self.assertRaises(EmbouxConflictError) as caught:
            check_unique(self.Domain, "name", ["a.test", "example.com"], self.taken)
        self.assertEqual(str(caught.exception), "Taken: ['example.com']")
        # the records written keep their own key; nothing given, nothing checked
        check_unique(self.domain, "name", ["example.com"], self.taken)
        check_unique(self.Domain, "name", [], self.taken)

    def test_archived_and_unreadable_holders_count(self):
        mailbox = self.make_mailbox("old@example.com")
        mailbox.active = False
        Mailbox = self.Mailbox.with_user(self.emboux_user)
        with self.assertRaises(EmbouxConflictError) as caught:
            Mailbox.create({"email": "OLD@example.com", "password": "correct horse battery"})
        self.assertEqual(caught.exception.field, "email")
        self.assertEqual(str(caught.exception), "The mailbox 'old@example.com' already exists")

    def test_keys_of_several_fields(self):
        self.Alias.create({"source": "info@example.com", "destination": "a@elsewhere.test"})
        pairs = [
            ("info@example.com", "b@elsewhere.test"),
            ("sales@example.com", "a@elsewhere.test"),
        ]
        check_unique(self.Alias, ("source", "destination"), pairs, self.taken)
        with self.assertRaises(EmbouxConflictError) as caught:
            check_unique(
                self.Alias,
                ("source", "destination"),
                [*pairs, ("info@example.com", "a@elsewhere.test")],
                self.taken,
            )
        self.assertEqual(str(caught.exception), "Taken: [('info@example.com', 'a@elsewhere.test')]")

    def test_constraint_decides_and_the_cursor_stays_usable(self):
        # what a concurrent transaction would do: the search saw nothing
        # (here: the holder is among the records written), the UNIQUE
        # constraint refuses the row
        with (
            mute_logger("odoo.sql_db"),
            self.assertRaises(EmbouxConflictError) as caught,
            unique_key(self.domain, "name", ["example.com"], self.taken),
        ):
            self.env.cr.execute(
                "INSERT INTO emboux_domain (name, status) VALUES ('example.com', 'active')"
            )
        self.assertEqual(str(caught.exception), "Taken: ['example.com']")
        self.assertIsNotNone(caught.exception.__cause__)
        self.assertEqual(self.Domain.search_count([("name", "=", "example.com")]), 1)
        with unique_key(self.Domain, "name", ["fresh.test"], self.taken):
            created = self.Domain.create({"name": "fresh.test"})
        self.assertTrue(created.exists())
