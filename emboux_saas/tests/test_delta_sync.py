from datetime import timedelta

from odoo.tests import tagged

from odoo.addons.emboux_core.exceptions import EmbouxInputError

from .common import SaasCase


@tagged("post_install", "-at_install")
class TestDeltaSync(SaasCase):
    def age(self, records, delta=timedelta(hours=1)):
        """Pretend ``records`` were written ``delta`` ago."""
        self.env.flush_all()
        self.env.cr.execute(
            f"UPDATE {records._table} SET write_date = write_date - %s WHERE id IN %s",
            [delta, tuple(records.ids)],
        )
        records.invalidate_recordset()

    def test_usage_without_since(self):
        usage = self.tenant_a._usage()
        self.assertNotIn("changes", usage)
        self.assertEqual(usage["usage"], {"domains_used": 1, "mailboxes": 1, "aliases": 1})
        self.assertLessEqual(usage["server_time"], self.env.cr.now())

    def test_changes_since(self):
        for records in (self.domain_a, self.mailbox_a, self.domain_b, self.mailbox_b, self.alias_b):
            self.age(records)
        since = self.tenant_a._usage()["server_time"]
        self.assertEqual(
            {k: len(v) for k, v in self.tenant_a._usage(since)["changes"].items()},
            {"domains": 0, "users": 0, "aliases": 1, "deleted": 0},
            "only alias_a is recent",
        )
        self.age(self.alias_a)
        new_mailbox = self.make_mailbox("new@acme.test")
        self.mailbox_a.name = "Ann"
        self.Alias.browse(self.alias_a.id).unlink()
        changes = self.tenant_a._usage(since)["changes"]
        self.assertEqual(changes["users"], self.mailbox_a | new_mailbox)
        self.assertFalse(changes["domains"])
        self.assertEqual(
            changes["deleted"],
            [
                {
                    "type": "alias",
                    "key": "info@acme.test",
                    "destination": "ann@acme.test",
                    "deleted_at": self.env.cr.now().replace(microsecond=0),
                }
            ],
        )
        # the other tenant's sync sees none of it
        self.assertFalse(any(self.tenant_b._usage(since)["changes"].values()))

    def test_since_formats(self):
        for records in (self.domain_a, self.mailbox_a, self.alias_a):
            self.age(records)
        for since in ("2000-01-01T00:00:00Z", "2000-01-01T01:00:00+01:00", "2000-01-01 00:00:00"):
            self.assertIn(self.domain_a, self.tenant_a._usage(since)["changes"]["domains"])
        future = (self.env.cr.now() + timedelta(days=1)).isoformat() + "Z"
        self.assertFalse(any(self.tenant_a._usage(future)["changes"].values()))
        with self.assertRaises(EmbouxInputError) as cm:
            self.tenant_a._usage("yesterday")
        self.assertEqual(cm.exception.field, "since")

    def test_domain_delete_logged_with_contents(self):
        since = self.tenant_a._usage()["server_time"]
        self.domain_a.unlink()
        deleted = self.tenant_a._usage(since)["changes"]["deleted"]
        self.assertEqual(
            sorted((d["type"], d["key"]) for d in deleted),
            [("alias", "info@acme.test"), ("domain", "acme.test"), ("user", "ann@acme.test")],
        )

    def test_rolled_back_delete_leaves_no_log(self):
        Log = self.env["emboux.deletion.log"]
        with self.assertRaises(RuntimeError), self.env.cr.savepoint():
            self.domain_a.unlink()
            raise RuntimeError("abort")
        self.env.invalidate_all()
        self.assertTrue(self.domain_a.exists())
        self.assertFalse(Log.search([("tenant_id", "=", self.tenant_a.id)]))
        self.assertEqual(self.tenant_a.domains_used, 1)

    def test_catch_all_change_reports_the_mailbox(self):
        self.age(self.mailbox_a)
        since = self.tenant_a._usage()["server_time"]
        self.age(self.alias_a)
        self.mailbox_a.catch_all = True
        changes = self.tenant_a._usage(since)["changes"]
        self.assertEqual(changes["users"], self.mailbox_a)
        self.assertEqual(changes["aliases"].mapped("source"), ["@acme.test"])

    def test_customer_reads_own_usage(self):
        env = self.tenant_env(self.tenant_a)
        key = env["emboux.api.key"].browse(self.key_a.id)
        usage = key._usage("2000-01-01T00:00:00Z")
        self.assertEqual(usage["partner_ref"], "acme")
        self.assertEqual(usage["changes"]["domains"], self.domain_a)
        self.assertEqual(usage["changes"]["domains"].env.uid, self.tenant_a.user_id.id)
