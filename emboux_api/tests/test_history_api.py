from datetime import timedelta

from odoo import fields
from odoo.tests import tagged
from odoo.tools import SQL

from .common import TenancyCase


@tagged("post_install", "-at_install")
class TestHistoryApi(TenancyCase):
    """GET /domains/{name}/outbound/history."""

    def add_history(self, domain, days_ago, sent, bounces=0, complaints=0):
        self.env["emboux.outbound.daily"].create(
            {
                "domain_id": domain.id,
                "day": self.today - timedelta(days=days_ago),
                "sent": sent,
                "bounces": bounces,
                "complaints": complaints,
            }
        )

    def set_today(self, domain, sent, bounces=0, complaints=0):
        self.env.flush_all()
        self.env.execute_query(
            SQL(
                "UPDATE emboux_outbound_counter SET sent_today = %s, bounces_today = %s,"
                " complaints_today = %s WHERE domain_id = %s",
                sent,
                bounces,
                complaints,
                domain.id,
            )
        )
        self.env.invalidate_all()

    def setUp(self):
        super().setUp()
        self.today = fields.Datetime.now().date()
        self.add_history(self.domain_a, 1, 10, bounces=1)
        self.add_history(self.domain_a, 5, 4, complaints=2)
        self.add_history(self.domain_a, 30, 99)  # before the default 30 days
        self.set_today(self.domain_a, 6, bounces=1, complaints=1)

    def test_master_reads_30_days_oldest_first(self):
        body = self.assertStatus(self.api("GET", "/domains/ACME.test/outbound/history"), 200)
        self.assertEqual(len(body), 30)
        self.assertEqual(set(body[0]), {"day", "sent", "bounces", "complaints"})
        days = [self.today - timedelta(days=29 - i) for i in range(30)]
        self.assertEqual([row["day"] for row in body], [d.isoformat() for d in days])
        self.assertEqual(
            body[-1],
            {"day": self.today.isoformat(), "sent": 6, "bounces": 1, "complaints": 1},
        )
        self.assertEqual(
            body[-2], {"day": days[-2].isoformat(), "sent": 10, "bounces": 1, "complaints": 0}
        )
        self.assertEqual((body[-6]["sent"], body[-6]["complaints"]), (4, 2))
        # a day without a row is zeros
        self.assertEqual(
            body[-3], {"day": days[-3].isoformat(), "sent": 0, "bounces": 0, "complaints": 0}
        )
        self.assertEqual(sum(row["sent"] for row in body), 20)
        # the trailing slash too, and a longer window
        body = self.assertStatus(
            self.api("GET", "/domains/acme.test/outbound/history/?days=31"), 200
        )
        self.assertEqual((len(body), body[0]["sent"]), (31, 99))

    def test_days_bounds(self):
        body = self.assertStatus(self.api("GET", "/domains/acme.test/outbound/history?days=1"), 200)
        self.assertEqual(
            body, [{"day": self.today.isoformat(), "sent": 6, "bounces": 1, "complaints": 1}]
        )
        body = self.assertStatus(
            self.api("GET", "/domains/acme.test/outbound/history?days=400"), 200
        )
        self.assertEqual(len(body), 400)
        self.assertEqual(body[0]["day"], (self.today - timedelta(days=399)).isoformat())
        for days in ("0", "401", "x", "-1", "1.5", ""):
            with self.subTest(days=days):
                response = self.api("GET", f"/domains/acme.test/outbound/history?days={days}")
                self.assertDetailNames(response, 422, "days")

    def test_owner_reads_other_tenant_does_not_see(self):
        body = self.assertStatus(
            self.api("GET", "/domains/acme.test/outbound/history", token=self.token_a), 200
        )
        self.assertEqual(body[-1]["sent"], 6)
        self.assertStatus(
            self.api("GET", "/domains/acme.test/outbound/history", token=self.token_b),
            404,
            "Domain not found",
        )
        self.assertStatus(
            self.api("GET", "/domains/acme.test/outbound/history?days=0", token=self.token_b),
            404,
        )
        self.assertStatus(
            self.api("GET", "/domains/none.test/outbound/history"), 404, "Domain not found"
        )
        self.assertStatus(self.api("GET", "/domains/acme.test/outbound/history", token=None), 401)
        # the other tenant's own domain, without history: zeros
        body = self.assertStatus(
            self.api("GET", "/domains/globex.test/outbound/history?days=3", token=self.token_b),
            200,
        )
        self.assertEqual([row["sent"] for row in body], [0, 0, 0])

    def test_openapi_documents_the_route(self):
        schema = self.assertStatus(self.api("GET", "/openapi.json", token=None), 200)
        operation = schema["paths"]["/domains/{name}/outbound/history"]["get"]
        self.assertNotIn("x-required-role", operation)
        days = next(p for p in operation["parameters"] if p["name"] == "days")
        self.assertEqual(
            (days["schema"]["minimum"], days["schema"]["maximum"], days["schema"]["default"]),
            (1, 400, 30),
        )
        self.assertIn("404", operation["responses"])
