from contextlib import contextmanager
from datetime import timedelta
import os
from unittest.mock import patch

from odoo import fields
from odoo.tools import SQL

from ..models.emboux_outbound_counter import LAST_DAILY_RESET_PARAM, LAST_MONTHLY_RESET_PARAM
from .common import OutboundCase

# the configuration the sending rules read; unset in tests unless a test
# sets it, so that a developer's environment cannot change the outcome
SENDING_ENV = (
    "HOURLY_FRACTION",
    "SPIKE_MAX_MULTIPLIER",
    "BOUNCE_RATE_THRESHOLD",
    "COMPLAINT_RATE_THRESHOLD",
    "GUILLOTINE_MIN_VOLUME",
    "SPIKE_MIN_VOLUME",
)


@contextmanager
def sending_config(env, **values):
    """The sending configuration ``values`` (environment variables), written
    into the settings row the SQL rules read, as a restart with them would."""
    Decision = env["emboux.send.decision"]
    try:
        with patch.dict(os.environ, {key: str(value) for key, value in values.items()}):
            Decision._sync_settings()
            yield
    finally:
        Decision._sync_settings()


class SendingCase(OutboundCase):
    """OutboundCase with ``acme.test`` verified, on the free tier (100 a
    day, 2,000 a month: 17 an hour) and without warm-up, so that each test
    turns on only the rule it checks."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(patch.dict(os.environ, dict.fromkeys(SENDING_ENV, "")))
        cls.env["emboux.send.decision"]._sync_settings()
        cls.Suppression = cls.env["emboux.suppression"]
        cls.Counter = cls.env["emboux.outbound.counter"]
        # as if no reset had run yet (a database's cron may have run one)
        for param in (LAST_DAILY_RESET_PARAM, LAST_MONTHLY_RESET_PARAM):
            cls.env["ir.config_parameter"].set_param(param, False)
        cls.domain_a.write({"warmup_profile": False, "outbound_tier_id": cls.free.id})
        cls.domain_a._set_verification("verified")
        cls.domain_b.write({"warmup_profile": False})
        cls.domain_b._set_verification("verified")

    def send(self, domain=None, count=1, recipients=None, size_bytes=0):
        return (domain or self.domain_a).outbound_send_decision(
            count=count, recipients=recipients, size_bytes=size_bytes
        )

    def counters(self, domain=None):
        """The domain's counter row, read from the database."""
        domain = domain or self.domain_a
        self.env.flush_all()
        rows = self.env.execute_query_dict(
            SQL(
                "SELECT sent_today, sent_this_month, sent_this_hour, hour_start,"
                " transfer_bytes::bigint AS transfer_bytes, bounces_today, complaints_today"
                " FROM emboux_outbound_counter WHERE domain_id = %s",
                domain.id,
            )
        )
        return rows[0] if rows else None

    def set_counters(self, domain=None, **values):
        """Write counter columns in SQL (as other workers would have)."""
        domain = domain or self.domain_a
        self.env.flush_all()
        self.env.execute_query(
            SQL(
                "UPDATE emboux_outbound_counter SET %s WHERE domain_id = %s",
                SQL(", ").join(
                    SQL("%s = %s", SQL.identifier(key), value) for key, value in values.items()
                ),
                domain.id,
            )
        )
        self.env.invalidate_all()

    def add_history(self, domain, days_ago, sent, bounces=0, complaints=0):
        day = fields.Date.today() - timedelta(days=days_ago)
        self.env["emboux.outbound.daily"].create(
            {
                "domain_id": domain.id,
                "day": day,
                "sent": sent,
                "bounces": bounces,
                "complaints": complaints,
            }
        )

    def backdate(self, domain, days):
        """Pretend the domain was created ``days`` ago."""
        self.env.flush_all()
        self.env.execute_query(
            SQL(
                "UPDATE emboux_domain SET create_date = create_date - %s WHERE id = %s",
                timedelta(days=days),
                domain.id,
            )
        )
        domain.invalidate_recordset()

    def config(self, **values):
        return sending_config(self.env, **values)
