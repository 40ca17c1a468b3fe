import os
from unittest.mock import patch

from passlib.hash import sha512_crypt
import psycopg2

from odoo.exceptions import AccessError
from odoo.tests import Form, new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.emboux_core.exceptions import EmbouxConflictError, EmbouxInputError
from odoo.addons.emboux_core.tools import hash_password, verify_password

from .common import EmbouxCase

PASSWORD = "correct horse battery"


@tagged("post_install", "-at_install")
class TestMailboxAddress(EmbouxCase):
    def test_address_normalised_and_domain_found(self):
        mailbox = self.make_mailbox("  Jane.Doe@EXAMPLE.com ", name="Jane Doe")
        self.assertEqual(mailbox.email, "jane.doe@example.com")
        self.assertEqual(mailbox.local_part, "jane.doe")
        self.assertEqual(mailbox.domain_id, self.domain)
        self.assertEqual(mailbox.name, "Jane Doe")
        self.assertEqual(mailbox.quota_mb, 1024)
        self.assertTrue(mailbox.active)
        self.assertFalse(mailbox.used_at)
        self.assertEqual(mailbox.display_name, "jane.doe@example.com")

    def test_idn_address(self):
        self.Domain.create({"name": "bücher.example"})
        mailbox = self.make_mailbox("Info@Bücher.Example")
        self.assertEqual(mailbox.email, "info@xn--bcher-kva.example")

    def test_invalid_addresses(self):
        bad = [
            "",
            "jane",
            "jane@",
            "@example.com",
            "ja ne@example.com",
            ".jane@example.com",
            "jane.@example.com",
            "ja..ne@example.com",
            "(jane)@example.com",
            'ja"ne@example.com',
            "a" * 65 + "@example.com",
            "jane@exa mple.com",
            "jane@localhost",
            "jane@-example.com",
        ]
        for email in bad:
            with self.subTest(email=email), self.assertRaises(EmbouxInputError) as caught:
                self.make_mailbox(email)
            self.assertEqual(caught.exception.field, "email")
            self.assertNotIn("email:", str(caught.exception))
        self.assertEqual(self.make_mailbox("a" * 64 + "@example.com").local_part, "a" * 64)
        self.assertEqual(
            self.make_mailbox("o'neil+x_y=z@example.com").email, "o'neil+x_y=z@example.com"
        )

    def test_unknown_domain(self):
        with self.assertRaises(EmbouxInputError) as caught:
            self.make_mailbox("jane@unknown.example")
        self.assertEqual(caught.exception.field, "email")
        self.assertIn("unknown domain", str(caught.exception))

    def test_duplicate_in_other_case(self):
        self.make_mailbox()
        with self.assertRaises(EmbouxConflictError) as caught:
            self.make_mailbox("JANE@Example.Com")
        self.assertEqual(caught.exception.field, "email")
        self.make_mailbox("old@example.com", active=False)
        with self.assertRaises(EmbouxConflictError):
            self.make_mailbox("Old@example.com")
        with self.assertRaises(EmbouxConflictError):
            self.Mailbox.create(
                [
                    {"email": "twin@example.com", "password": PASSWORD},
                    {"email": "Twin@example.com", "password": PASSWORD},
                ]
            )

    def test_unique_constraint_backs_the_check(self):
        mailbox = self.make_mailbox()
        with (
            mute_logger("odoo.sql_db"),
            self.assertRaises(psycopg2.errors.UniqueViolation),
            self.env.cr.savepoint(),
        ):
            self.env.cr.execute(
                "INSERT INTO emboux_mailbox (email, domain_id, quota_mb, active) VALUES (%s, %s, 1, true)",  # noqa: E501
                (mailbox.email, self.domain.id),
            )

    def test_address_is_for_life(self):
        mailbox = self.make_mailbox()
        mailbox.write({"email": "JANE@example.com"})  # same address
        with self.assertRaises(EmbouxInputError) as caught:
            mailbox.write({"email": "joe@example.com"})
        self.assertEqual(caught.exception.field, "email")
        self.assertEqual(mailbox.email, "jane@example.com")

    def test_find_by_email(self):
        mailbox = self.make_mailbox(active=False)
        self.assertEqual(self.Mailbox._find_by_email("JANE@example.COM"), mailbox)
        self.assertFalse(self.Mailbox._find_by_email("joe@example.com"))


@tagged("post_install", "-at_install")
class TestMailboxPassword(EmbouxCase):
    def test_hash_is_dovecot_sha512_crypt(self):
        mailbox = self.make_mailbox(password=PASSWORD)
        hashed = mailbox.sudo().password_hash
        self.assertTrue(hashed.startswith("{SHA512-CRYPT}$6$"), hashed)
        bare = hashed.removeprefix("{SHA512-CRYPT}")
        self.assertTrue(sha512_crypt.verify(PASSWORD, bare))
        self.assertFalse(sha512_crypt.verify(PASSWORD + "x", bare))
        self.assertEqual(sha512_crypt.from_string(bare).rounds, 5000)
        self.assertTrue(verify_password(PASSWORD, hashed))
        self.assertFalse(verify_password("wrong password", hashed))
        self.assertTrue(verify_password(PASSWORD, "{CRYPT}" + bare))
        self.assertFalse(verify_password(PASSWORD, "garbage"))
        # salted: the same password never hashes the same
        self.assertNotEqual(hash_password(PASSWORD), hash_password(PASSWORD))

    def test_password_never_readable(self):
        mailbox = self.make_mailbox(password=PASSWORD)
        self.assertFalse(mailbox.password)
        self.assertFalse(mailbox.read(["password"])[0]["password"])
        self.env.invalidate_all()
        self.assertFalse(mailbox.password)
        mailbox.write({"password": "another long password"})
        self.assertFalse(mailbox.password)
        mailbox.set_password("a third long password")
        self.assertFalse(mailbox.password)
        self.assertFalse(mailbox.with_user(self.emboux_user).read(["password"])[0]["password"])
        # the clear text is nowhere in the row
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT count(*) FROM emboux_mailbox m WHERE row_to_json(m)::text LIKE %s",
            ["%a third long password%"],
        )
        self.assertEqual(self.env.cr.fetchone()[0], 0)

    def test_hash_hidden_from_staff_users(self):
        mailbox = self.make_mailbox()
        with self.assertRaises(AccessError):
            mailbox.with_user(self.emboux_manager).read(["password_hash"])
        self.assertNotIn("password_hash", self.Mailbox.with_user(self.emboux_manager).fields_get())

    def test_weak_or_missing_password(self):
        for bad in (None, "", "short", "123456789", " " * 12, "a\x00bcdefghijk"):
            with self.subTest(password=bad), self.assertRaises(EmbouxInputError) as caught:
                self.Mailbox.create({"email": "jane@example.com", "password": bad})
            self.assertEqual(caught.exception.field, "password")
            self.assertNotIn("password:", str(caught.exception))
        with self.assertRaises(EmbouxInputError):
            self.Mailbox.create({"email": "jane@example.com"})
        self.assertFalse(self.Mailbox.search([("email", "=", "jane@example.com")]))

    def test_set_password(self):
        mailbox = self.make_mailbox(password=PASSWORD)
        old = mailbox.sudo().password_hash
        mailbox.set_password("brand new secret!")
        new = mailbox.sudo().password_hash
        self.assertNotEqual(old, new)
        self.assertTrue(verify_password("brand new secret!", new))
        self.assertFalse(verify_password(PASSWORD, new))
        with self.assertRaises(EmbouxInputError) as caught:
            mailbox.set_password("weak")
        self.assertEqual(caught.exception.field, "password")
        self.assertEqual(mailbox.sudo().password_hash, new)
        # an empty password on write keeps the old one (forms send nothing)
        mailbox.write({"password": False, "name": "Jane"})
        self.assertEqual(mailbox.sudo().password_hash, new)

    def test_quota(self):
        mailbox = self.make_mailbox(quota_mb=0)
        self.assertEqual(mailbox.quota_mb, 0)
        mailbox.set_quota(2048)
        self.assertEqual(mailbox.quota_mb, 2048)
        for bad in (-1, "10", 2.5):
            with self.subTest(value=bad), self.assertRaises(EmbouxInputError) as caught:
                mailbox.set_quota(bad)
            self.assertEqual(caught.exception.field, "quota_mb")
        with self.assertRaises(EmbouxInputError):
            self.make_mailbox("neg@example.com", quota_mb=-10)
        self.assertEqual(mailbox.quota_mb, 2048)


@tagged("post_install", "-at_install")
class TestMailboxCatchAll(EmbouxCase):
    def _catch_all_aliases(self):
        return self.Alias.search([("source", "=", "@example.com")])

    def test_catch_all_ticked_on_create_form(self):
        with Form(self.Mailbox.with_user(self.emboux_user)) as form:
            form.email = "Jane@Example.com"
            form.password = PASSWORD
            form.name = "Jane"
            form.catch_all = True
        mailbox = form.record
        aliases = self._catch_all_aliases()
        self.assertEqual(aliases.mapped("destination"), ["jane@example.com"])
        self.assertTrue(aliases.catch_all)
        self.assertEqual(aliases.domain_id, self.domain)
        self.assertTrue(mailbox.catch_all)
        self.assertTrue(verify_password(PASSWORD, mailbox.sudo().password_hash))
        self.assertFalse(mailbox.password)

    def test_form_without_catch_all(self):
        with Form(self.Mailbox) as form:
            form.email = "joe@example.com"
            form.password = PASSWORD
        self.assertFalse(form.record.catch_all)
        self.assertFalse(self._catch_all_aliases())

    def test_catch_all_on_create_multi(self):
        jane, joe = self.Mailbox.create(
            [
                {"email": "jane@example.com", "password": PASSWORD, "catch_all": True},
                {"email": "joe@example.com", "password": PASSWORD, "catch_all": False},
            ]
        )
        self.assertTrue(jane.catch_all)
        self.assertFalse(joe.catch_all)
        self.assertEqual(self._catch_all_aliases().destination, "jane@example.com")

    def test_catch_all_via_write(self):
        mailbox = self.make_mailbox()
        self.assertFalse(mailbox.catch_all)
        mailbox.write({"catch_all": True})
        self.assertEqual(len(self._catch_all_aliases()), 1)
        mailbox.write({"catch_all": True})  # idempotent
        self.assertEqual(len(self._catch_all_aliases()), 1)
        self.env.invalidate_all()
        self.assertTrue(mailbox.catch_all)
        self.assertEqual(self.Mailbox.search([("catch_all", "=", True)]), mailbox)
        self.assertNotIn(mailbox, self.Mailbox.search([("catch_all", "=", False)]))
        with Form(mailbox) as form:
            form.catch_all = False
        self.assertFalse(self._catch_all_aliases())
        self.assertFalse(mailbox.catch_all)

    def test_catch_all_follows_alias(self):
        mailbox = self.make_mailbox()
        self.Alias.upsert("@EXAMPLE.COM", "Jane@example.com")
        self.assertTrue(mailbox.catch_all)
        self._catch_all_aliases().unlink()
        self.assertFalse(mailbox.catch_all)

    def test_unlink_removes_its_aliases(self):
        mailbox = self.make_mailbox(catch_all=True)
        self.Alias.create({"source": "info@example.com", "destination": mailbox.email})
        self.Alias.create({"source": "info@example.com", "destination": "boss@elsewhere.example"})
        mailbox.unlink()
        self.assertEqual(
            self.Alias.search([]).mapped(lambda a: (a.source, a.destination)),
            [("info@example.com", "boss@elsewhere.example")],
        )


@tagged("post_install", "-at_install")
class TestMailboxSmtp(EmbouxCase):
    def test_smtp_settings(self):
        mailbox = self.make_mailbox()
        self.assertEqual(mailbox.smtp_host, "mail.example.com")
        self.assertEqual(mailbox.smtp_port_starttls, 587)
        self.assertEqual(mailbox.smtp_port_ssl, 465)
        self.assertEqual(mailbox.smtp_user, "jane@example.com")
        with patch.dict(os.environ, {"EMBOUX_SMTP_HOST": "smtp.emboux.example"}):
            mailbox.invalidate_recordset(["smtp_host"])
            self.assertEqual(mailbox.smtp_host, "smtp.emboux.example")

    def test_create_mail_server_button(self):
        mailbox = self.make_mailbox()
        action = mailbox.action_create_mail_server()
        server = self.env["ir.mail_server"].search([("smtp_user", "=", "jane@example.com")])
        self.assertEqual(len(server), 1)
        self.assertEqual(server.smtp_port, 465)
        self.assertEqual(server.smtp_encryption, "ssl")
        self.assertEqual(server.smtp_host, "mail.example.com")
        self.assertEqual(server.smtp_authentication, "login")
        self.assertFalse(server.smtp_pass)
        self.assertEqual(action["tag"], "display_notification")
        self.assertIn("password", action["params"]["message"])
        self.assertEqual(action["params"]["next"]["res_id"], server.id)
        # a second click finds the same server
        again = mailbox.action_create_mail_server()
        self.assertEqual(
            self.env["ir.mail_server"].search_count([("smtp_user", "=", "jane@example.com")]), 1
        )
        self.assertEqual(again["params"]["next"]["res_id"], server.id)

    def test_create_mail_server_needs_settings_rights(self):
        mailbox = self.make_mailbox()
        with self.assertRaises(AccessError):
            mailbox.with_user(self.emboux_manager).action_create_mail_server()


@tagged("post_install", "-at_install")
class TestMailboxAccess(EmbouxCase):
    def test_user_manages_mailboxes(self):
        Mailbox = self.Mailbox.with_user(self.emboux_user)
        mailbox = Mailbox.create(
            {"email": "jane@example.com", "password": PASSWORD, "catch_all": True}
        )
        self.assertTrue(mailbox.catch_all)
        self.assertTrue(verify_password(PASSWORD, mailbox.sudo().password_hash))
        mailbox.set_password("changed by the user")
        mailbox.set_quota(10)
        mailbox.write({"name": "Jane", "active": False})
        mailbox.unlink()
        self.assertFalse(mailbox.exists())
        self.assertFalse(self.Alias.search([]))

    def test_outsider_cannot_read_mailboxes(self):
        self.make_mailbox()
        nobody = new_test_user(self.env, login="no_emboux", groups="base.group_user")
        with self.assertRaises(AccessError):
            self.Mailbox.with_user(nobody).search([])
        with self.assertRaises(AccessError):
            self.Mailbox.with_user(nobody).create({"email": "x@example.com", "password": PASSWORD})
