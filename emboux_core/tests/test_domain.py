import os
from unittest.mock import patch

import psycopg2

from odoo.exceptions import AccessError
from odoo.tests import Form, new_test_user, tagged
from odoo.tools import config, mute_logger

from odoo.addons.emboux_core.exceptions import EmbouxConflictError, EmbouxInputError
from odoo.addons.emboux_core.tools import (
    get_config,
    normalize_domain,
    normalize_email,
)

from .common import EmbouxCase


@tagged("post_install", "-at_install")
class TestDomainName(EmbouxCase):
    def test_name_normalised(self):
        domain = self.Domain.create({"name": "  Mail.Example.ORG.  "})
        self.assertEqual(domain.name, "mail.example.org")
        self.assertEqual(domain.status, "active")

    def test_idn_stored_as_punycode(self):
        domain = self.Domain.create({"name": "Bücher.Example"})
        self.assertEqual(domain.name, "xn--bcher-kva.example")
        self.assertEqual(self.Domain._find_by_name("BÜCHER.example"), domain)
        self.assertEqual(self.Domain._find_by_name("xn--bcher-kva.example."), domain)
        # the Unicode and the punycode spelling are the same domain
        with self.assertRaises(EmbouxConflictError) as caught:
            self.Domain.create({"name": "XN--BCHER-KVA.example"})
        self.assertEqual(caught.exception.field, "name")

    def test_invalid_names(self):
        bad = [
            "",
            "   ",
            "exa mple.com",
            "example com",
            "localhost",  # one label
            "a" * 64 + ".com",  # label of 64 characters
            "-example.com",  # leading hyphen
            "example-.com",  # trailing hyphen
            "ex_ample.com",
            "example..com",
            ".example.com",
            "exa@mple.com",
            "xn--zz.example",  # an A-label that decodes to nothing valid
            ".".join(["a" * 63] * 3 + ["b" * 62]),  # 254 characters
        ]
        self.assertEqual(len(bad[-1]), 254)
        for name in bad:
            with self.subTest(name=name), self.assertRaises(EmbouxInputError) as caught:
                self.Domain.create({"name": name})
            self.assertEqual(caught.exception.field, "name")
            self.assertIn("name", str(caught.exception))
        for value in (None, False, 42):
            with self.subTest(name=value), self.assertRaises(EmbouxInputError):
                normalize_domain(value)

    def test_limits_accepted(self):
        longest = ".".join(["a" * 63] * 3 + ["b" * 61])
        self.assertEqual(len(longest), 253)
        self.assertEqual(self.Domain.create({"name": longest}).name, longest)
        self.assertEqual(self.Domain.create({"name": "x-1.io"}).name, "x-1.io")

    def test_invalid_name_message_and_field(self):
        with self.assertRaises(EmbouxInputError) as caught:
            self.Domain.create({"name": "exa mple.com"})
        self.assertEqual(caught.exception.field, "name")
        self.assertEqual(str(caught.exception), "'exa mple.com' is not a valid domain name")

    def test_duplicate_in_other_case(self):
        with self.assertRaises(EmbouxConflictError) as caught:
            self.Domain.create({"name": "EXAMPLE.com"})
        self.assertEqual(caught.exception.field, "name")
        with self.assertRaises(EmbouxConflictError):
            self.Domain.create([{"name": "new.example"}, {"name": "New.Example"}])
        self.assertFalse(self.Domain.search([("name", "=", "new.example")]))

    def test_rename_to_existing_name_conflicts(self):
        other = self.Domain.create({"name": "other.example"})
        with self.assertRaises(EmbouxConflictError):
            other.write({"name": "Example.COM"})
        other.write({"name": "Renamed.Example"})
        self.assertEqual(other.name, "renamed.example")

    def test_rename_with_mailboxes_refused(self):
        self.make_mailbox()
        with self.assertRaises(EmbouxInputError) as caught:
            self.domain.write({"name": "elsewhere.example"})
        self.assertEqual(caught.exception.field, "name")
        self.assertEqual(self.domain.name, "example.com")

    def test_unique_constraint_backs_the_check(self):
        """Two transactions may both pass the pre-check: the database decides."""
        with (
            mute_logger("odoo.sql_db"),
            self.assertRaises(psycopg2.errors.UniqueViolation),
            self.env.cr.savepoint(),
        ):
            self.env.cr.execute(
                "INSERT INTO emboux_domain (name, status) VALUES ('example.com', 'active')"
            )

    def test_find_by_name(self):
        self.assertEqual(self.Domain._find_by_name("EXAMPLE.com."), self.domain)
        self.assertFalse(self.Domain._find_by_name("unknown.example"))
        with self.assertRaises(EmbouxInputError):
            self.Domain._find_by_name("not a domain")


@tagged("post_install", "-at_install")
class TestDomainSettings(EmbouxCase):
    def test_defaults(self):
        self.assertEqual(self.domain.retention_days, 0)
        self.assertEqual(self.domain.monthly_transfer_limit_mb, 0)
        self.assertEqual(self.domain.transfer_used_mb, 0)

    def test_retention(self):
        self.domain.set_retention(30)
        self.assertEqual(self.domain.retention_days, 30)
        self.domain.set_retention(None)
        self.assertEqual(self.domain.retention_days, 0)
        for bad in (-1, "30", 1.5, True, [3]):
            with self.subTest(value=bad), self.assertRaises(EmbouxInputError) as caught:
                self.domain.set_retention(bad)
            self.assertEqual(caught.exception.field, "retention_days")
        self.assertEqual(self.domain.retention_days, 0)

    def test_transfer_limit(self):
        self.domain.set_transfer_limit(10240)
        self.assertEqual(self.domain.monthly_transfer_limit_mb, 10240)
        with self.assertRaises(EmbouxInputError) as caught:
            self.domain.set_transfer_limit(-5)
        self.assertEqual(caught.exception.field, "monthly_transfer_limit_mb")
        self.assertEqual(self.domain.monthly_transfer_limit_mb, 10240)

    def test_negative_numbers_on_create_and_write(self):
        for fname in ("retention_days", "monthly_transfer_limit_mb", "transfer_used_mb"):
            with self.subTest(field=fname), self.assertRaises(EmbouxInputError) as caught:
                self.Domain.create({"name": "neg.example", fname: -1})
            self.assertEqual(caught.exception.field, fname)
            with self.subTest(field=fname), self.assertRaises(EmbouxInputError):
                self.domain.write({fname: -1})

    def test_counts(self):
        mailbox = self.make_mailbox(catch_all=True)
        self.Alias.create({"source": "info@example.com", "destination": mailbox.email})
        self.make_mailbox("archived@example.com", active=False)
        self.assertEqual(self.domain.mailbox_count, 2)
        self.assertEqual(self.domain.alias_count, 2)


@tagged("post_install", "-at_install")
class TestDomainSuspension(EmbouxCase):
    def test_suspend_records_who_and_when_and_keeps_data(self):
        mailbox = self.make_mailbox(catch_all=True)
        hashed = mailbox.sudo().password_hash
        domain = self.domain.with_user(self.emboux_manager)
        domain.action_suspend()
        self.assertEqual(self.domain.status, "suspended")
        self.assertEqual(self.domain.suspended_by_id, self.emboux_manager)
        self.assertTrue(self.domain.suspended_at)
        # every byte kept
        self.assertTrue(mailbox.exists())
        self.assertEqual(mailbox.sudo().password_hash, hashed)
        self.assertTrue(mailbox.catch_all)
        self.assertEqual(self.domain.alias_count, 1)

        # idempotent: a second suspension changes nothing
        first_at = self.domain.suspended_at
        self.domain.action_suspend()
        self.assertEqual(self.domain.suspended_by_id, self.emboux_manager)
        self.assertEqual(self.domain.suspended_at, first_at)

        self.domain.action_activate()
        self.assertEqual(self.domain.status, "active")
        self.assertEqual(self.domain.activated_by_id, self.env.user)
        self.assertTrue(self.domain.activated_at)
        self.assertFalse(self.domain.suspended_by_id)
        self.assertFalse(self.domain.suspended_at)
        activated_at = self.domain.activated_at
        self.domain.with_user(self.emboux_manager).action_activate()
        self.assertEqual(self.domain.activated_by_id, self.env.user)
        self.assertEqual(self.domain.activated_at, activated_at)

    def test_unlink_cascades(self):
        jane = self.make_mailbox(catch_all=True)
        self.make_mailbox("bob@example.com")
        self.Alias.create(
            {"source": "info@example.com", "destination": "someone@elsewhere.example"}
        )
        other = self.Domain.create({"name": "other.example"})
        kept = self.make_mailbox("kept@other.example")
        self.Alias.create({"source": "to-jane@other.example", "destination": jane.email})
        self.domain.unlink()
        self.assertFalse(
            self.Mailbox.with_context(active_test=False).search(
                [("email", "like", "%@example.com")]
            )
        )
        self.assertFalse(self.Alias.search([("source", "like", "%example.com")]))
        # the other domain keeps its mailbox; its alias to a deleted mailbox goes
        self.assertTrue(other.exists() and kept.exists())
        self.assertFalse(self.Alias.search([("destination", "=", "jane@example.com")]))

    def test_copy_refused(self):
        with self.assertRaises(EmbouxInputError):
            self.domain.copy()


@tagged("post_install", "-at_install")
class TestDomainAccess(EmbouxCase):
    def test_user_reads_but_cannot_manage_domains(self):
        domain = self.domain.with_user(self.emboux_user)
        self.assertEqual(domain.name, "example.com")
        with self.assertRaises(AccessError):
            self.Domain.with_user(self.emboux_user).create({"name": "user.example"})
        with self.assertRaises(AccessError):
            domain.action_suspend()
        with self.assertRaises(AccessError):
            domain.set_retention(5)
        with self.assertRaises(AccessError):
            domain.unlink()
        self.assertEqual(self.domain.status, "active")

    def test_manager_manages_domains(self):
        Domain = self.Domain.with_user(self.emboux_manager)
        domain = Domain.create({"name": "manager.example"})
        domain.set_retention(7)
        domain.action_suspend()
        self.assertEqual(domain.status, "suspended")
        domain.unlink()
        self.assertFalse(domain.exists())

    def test_internal_user_without_group_sees_nothing(self):
        nobody = new_test_user(self.env, login="no_emboux", groups="base.group_user")
        with self.assertRaises(AccessError):
            self.Domain.with_user(nobody).search([])

    def test_settings_admins_are_managers(self):
        admin = new_test_user(self.env, login="emboux_sysadmin", groups="base.group_system")
        self.assertTrue(admin.has_group("emboux_core.group_emboux_manager"))
        self.assertTrue(
            self.env.ref("base.user_admin").has_group("emboux_core.group_emboux_manager")
        )
        self.assertTrue(self.emboux_manager.has_group("emboux_core.group_emboux_user"))
        self.assertFalse(self.emboux_user.has_group("emboux_core.group_emboux_manager"))

    def test_form(self):
        with Form(self.Domain.with_user(self.emboux_manager)) as form:
            form.name = "Form.Example"
            form.retention_days = 14
        domain = form.record
        self.assertEqual(domain.name, "form.example")
        self.assertEqual(domain.retention_days, 14)


@tagged("post_install", "-at_install")
class TestTools(EmbouxCase):
    def test_normalize_email(self):
        self.assertEqual(
            normalize_email(" Jane.Doe+tag@Bücher.Example "), "jane.doe+tag@xn--bcher-kva.example"
        )
        self.assertEqual(normalize_email("@Example.com", allow_catch_all=True), "@example.com")
        with self.assertRaises(EmbouxInputError) as caught:
            normalize_email("@example.com", field="destination")
        self.assertEqual(caught.exception.field, "destination")

    def test_get_config(self):
        self.assertEqual(get_config("emboux_no_such_option", default="d"), "d")
        with patch.dict(os.environ, {"EMBOUX_NO_SUCH_OPTION": "from-env"}):
            self.assertEqual(get_config("emboux_no_such_option", default="d"), "from-env")
        with patch.dict(os.environ, {"OTHER_NAME": "x"}):
            self.assertEqual(get_config("emboux_no_such_option", env="OTHER_NAME"), "x")
        with patch.dict(config.options, {"emboux_no_such_option": "from-conf"}):
            self.assertEqual(get_config("emboux_no_such_option", default="d"), "from-conf")
            with patch.dict(os.environ, {"EMBOUX_NO_SUCH_OPTION": "from-env"}):
                self.assertEqual(get_config("emboux_no_such_option"), "from-env")
