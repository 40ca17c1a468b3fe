"""The send decision under parallel requests: threads, each with its own
cursor (its own PostgreSQL transaction, as separate Odoo workers), commit
their decisions and retry on serialization failures as
``odoo.service.model.retrying`` does. Everything they commit is removed at
the end."""

import os
from unittest.mock import patch
import uuid

from odoo import SUPERUSER_ID, api
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from odoo.addons.emboux_core.tests.concurrency import race

from ..models.emboux_outbound_counter import LAST_DAILY_RESET_PARAM
from .sending_common import SENDING_ENV

THREADS = 6
RETRIES = 60


@tagged("post_install", "-at_install")
class TestSendConcurrency(TransactionCase):
    def setUp(self):
        super().setUp()
        self.tag = uuid.uuid4().hex[:8]
        # the hourly throttle at the daily limit: only the daily limit binds
        env_patch = patch.dict(
            os.environ, {**dict.fromkeys(SENDING_ENV, ""), "HOURLY_FRACTION": "1"}
        )
        env_patch.start()
        # the settings row follows the configuration (committed: the
        # threads read it); written back after the patch is undone
        self.addCleanup(self._sync_settings)
        self.addCleanup(env_patch.stop)
        self._sync_settings()
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            tier = env["emboux.outbound.tier"].create(
                {"code": f"race-{self.tag}", "name": "Race", "daily_limit": 10, "monthly_limit": 0}
            )
            domain = env["emboux.domain"].create(
                {
                    "name": f"race-{self.tag}.test",
                    "outbound_tier_id": tier.id,
                    "verification_status": "verified",
                    "warmup_profile": False,
                }
            )
            self.tier_id, self.domain_id = tier.id, domain.id
            self.last_reset = env["ir.config_parameter"].get_param(LAST_DAILY_RESET_PARAM)
        self.addCleanup(self._cleanup)

    def _sync_settings(self):
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["emboux.send.decision"]._sync_settings()

    def _cleanup(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            # a committed reset leaves its date behind: put the old one back
            env["ir.config_parameter"].set_param(LAST_DAILY_RESET_PARAM, self.last_reset)
            env["emboux.domain"].browse(self.domain_id).unlink()
            env["emboux.outbound.tier"].browse(self.tier_id).unlink()

    def race(self, sends_per_thread, count=1):
        """``THREADS`` threads send ``sends_per_thread`` decisions each, at
        once; returns every answer and the number of retries."""
        outcomes, retried = race(
            self.registry,
            SUPERUSER_ID,
            lambda env, _index: (
                env["emboux.domain"].browse(self.domain_id).outbound_send_decision(count=count)
            ),
            threads=THREADS,
            calls=sends_per_thread,
            retries=RETRIES,
            pause=0.05,
        )
        answers = [answer for outcome in outcomes for answer in outcome]
        self.assertEqual([a for a in answers if isinstance(a, Exception)], [])
        self.assertEqual(len(answers), THREADS * sends_per_thread)
        return answers, retried

    def committed_counters(self):
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT sent_today, sent_this_month FROM emboux_outbound_counter"
                " WHERE domain_id = %s",
                [self.domain_id],
            )
            return cr.fetchone()

    def test_never_over_the_limit(self):
        answers, _retries = self.race(sends_per_thread=4)
        allowed = [a for a in answers if a["allowed"]]
        refused = [a for a in answers if not a["allowed"]]
        self.assertEqual(len(allowed), 10)
        self.assertEqual({a["reason"] for a in refused}, {"daily_limit"})
        self.assertEqual(sorted(a["sent_today"] for a in allowed), list(range(1, 11)))
        self.assertEqual(self.committed_counters(), (10, 10))

    def test_no_count_lost(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["emboux.domain"].browse(self.domain_id).outbound_enforcement = "off"
        answers, retries = self.race(sends_per_thread=8, count=2)
        self.assertTrue(all(a["allowed"] for a in answers))
        # every answer saw its own increment: all distinct
        self.assertEqual(
            sorted(a["sent_today"] for a in answers), list(range(2, 2 * THREADS * 8 + 1, 2))
        )
        self.assertEqual(self.committed_counters(), (2 * THREADS * 8, 2 * THREADS * 8))
        self.assertGreaterEqual(retries, 0)

    def test_reset_cron_retries_after_losing_a_race(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["emboux.domain"].browse(self.domain_id).outbound_send_decision(count=2)
        with self.registry.cursor() as cron_cr:
            cron_env = api.Environment(cron_cr, SUPERUSER_ID, {})
            cron_cr.execute("SELECT 1")  # the cron's snapshot starts here
            with self.registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                env["emboux.domain"].browse(self.domain_id).outbound_send_decision(count=3)
            # the counter row changed after the snapshot: the first attempt
            # fails to serialize, the second one resets
            with mute_logger("odoo.sql_db"):
                reset = cron_env["emboux.outbound.counter"]._cron_reset_daily()
            self.assertGreaterEqual(reset, 1)
            cron_cr.execute(
                "SELECT sum(sent) FROM emboux_outbound_daily WHERE domain_id = %s",
                [self.domain_id],
            )
            self.assertEqual(cron_cr.fetchone(), (5,))
        self.assertEqual(self.committed_counters(), (0, 5))
