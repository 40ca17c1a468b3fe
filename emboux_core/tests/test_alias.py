import psycopg2

from odoo.exceptions import AccessError
from odoo.tests import Form, new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.emboux_core.exceptions import EmbouxConflictError, EmbouxInputError

from .common import EmbouxCase


@tagged("post_install", "-at_install")
class TestAlias(EmbouxCase):
    def test_create_normalises(self):
        alias = self.Alias.create(
            {"source": " Info@Example.COM", "destination": "Jane@Elsewhere.Example"}
        )
        self.assertEqual(alias.source, "info@example.com")
        self.assertEqual(alias.destination, "jane@elsewhere.example")
        self.assertEqual(alias.domain_id, self.domain)
        self.assertFalse(alias.catch_all)
        self.assertEqual(alias.display_name, "info@example.com")

    def test_catch_all_source(self):
        alias = self.Alias.create({"source": "@Example.com", "destination": "jane@example.com"})
        self.assertEqual(alias.source, "@example.com")
        self.assertTrue(alias.catch_all)
        self.assertEqual(self.Alias.search([("catch_all", "=", True)]), alias)

    def test_unknown_domain(self):
        with self.assertRaises(EmbouxInputError) as caught:
            self.Alias.create({"source": "info@unknown.example", "destination": "jane@example.com"})
        self.assertEqual(caught.exception.field, "source")
        self.assertIn("unknown domain", str(caught.exception))
        with self.assertRaises(EmbouxInputError):
            self.Alias.upsert("@unknown.example", "jane@example.com")

    def test_invalid_input(self):
        cases = [
            ("in fo@example.com", "jane@example.com", "source"),
            ("info", "jane@example.com", "source"),
            ("", "jane@example.com", "source"),
            ("info@example.com", "", "destination"),
            ("info@example.com", "@example.com", "destination"),
            ("info@example.com", "jane@@example.com", "destination"),
            ("info@example.com", "jane@localhost", "destination"),
            ("info@example.com", "Info@EXAMPLE.com", "destination"),  # to itself
        ]
        for source, destination, field in cases:
            with self.subTest(source=source, destination=destination):
                with self.assertRaises(EmbouxInputError) as caught:
                    self.Alias.create({"source": source, "destination": destination})
                self.assertEqual(caught.exception.field, field)
                # a plain sentence: the field is the exception's, not the text's
                self.assertNotIn(f"{field}:", str(caught.exception))
        self.assertFalse(self.Alias.search([]))

    def test_duplicate_in_other_case(self):
        self.Alias.create({"source": "info@example.com", "destination": "jane@example.com"})
        with self.assertRaises(EmbouxConflictError) as caught:
            self.Alias.create({"source": "INFO@example.com", "destination": "Jane@Example.com"})
        self.assertEqual(caught.exception.field, "source")
        # several destinations for one source are fine
        self.Alias.create({"source": "info@example.com", "destination": "joe@example.com"})
        self.assertEqual(len(self.Alias.search([("source", "=", "info@example.com")])), 2)

    def test_unique_constraint_backs_the_check(self):
        alias = self.Alias.create({"source": "info@example.com", "destination": "jane@example.com"})
        with (
            mute_logger("odoo.sql_db"),
            self.assertRaises(psycopg2.errors.UniqueViolation),
            self.env.cr.savepoint(),
        ):
            self.env.cr.execute(
                "INSERT INTO emboux_alias (source, destination, domain_id) VALUES (%s, %s, %s)",
                (alias.source, alias.destination, self.domain.id),
            )

    def test_upsert_idempotent(self):
        alias, created = self.Alias.upsert("Sales@Example.com", "jane@example.com")
        self.assertTrue(created)
        self.assertEqual(alias.source, "sales@example.com")
        again, created = self.Alias.upsert("sales@example.com", "JANE@example.com")
        self.assertFalse(created)
        self.assertEqual(again, alias)
        self.assertEqual(self.Alias.search_count([("source", "=", "sales@example.com")]), 1)
        other, created = self.Alias.upsert("sales@example.com", "joe@example.com")
        self.assertTrue(created)
        self.assertNotEqual(other, alias)

    def test_write(self):
        alias = self.Alias.create({"source": "info@example.com", "destination": "jane@example.com"})
        self.Alias.create({"source": "info@example.com", "destination": "joe@example.com"})
        alias.write({"destination": "Bob@Example.com"})
        self.assertEqual(alias.destination, "bob@example.com")
        with self.assertRaises(EmbouxConflictError):
            alias.write({"destination": "JOE@example.com"})
        other = self.Domain.create({"name": "other.example"})
        alias.write({"source": "@Other.Example"})
        self.assertEqual(alias.domain_id, other)
        self.assertTrue(alias.catch_all)
        with self.assertRaises(EmbouxInputError):
            alias.write({"source": "info@unknown.example"})
        self.assertEqual(alias.source, "@other.example")

    def test_find_by_source(self):
        self.Alias.create({"source": "info@example.com", "destination": "jane@example.com"})
        self.Alias.create({"source": "info@example.com", "destination": "joe@example.com"})
        self.assertEqual(len(self.Alias._find_by_source("INFO@example.com")), 2)

    def test_form(self):
        with Form(self.Alias.with_user(self.emboux_user)) as form:
            form.source = "Help@Example.com"
            form.destination = "jane@example.com"
        self.assertEqual(form.record.source, "help@example.com")
        self.assertEqual(form.record.domain_id, self.domain)


@tagged("post_install", "-at_install")
class TestAliasAccess(EmbouxCase):
    def test_user_manages_aliases(self):
        Alias = self.Alias.with_user(self.emboux_user)
        alias, created = Alias.upsert("info@example.com", "jane@example.com")
        self.assertTrue(created)
        alias.write({"destination": "joe@example.com"})
        alias.unlink()
        self.assertFalse(self.Alias.search([]))

    def test_outsider_cannot_touch_aliases(self):
        nobody = new_test_user(self.env, login="no_emboux", groups="base.group_user")
        with self.assertRaises(AccessError):
            self.Alias.with_user(nobody).upsert("info@example.com", "jane@example.com")
