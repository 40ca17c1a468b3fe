import os
from unittest.mock import patch

from odoo.tests import tagged

from odoo.addons.emboux_outbound.tests.sending_common import SENDING_ENV, sending_config

from ..dependencies import MASTER_TOKEN_REQUIRED
from .common import TenancyCase

OUTBOUND_KEYS = {
    "domain",
    "outbound_tier",
    "outbound_enforcement",
    "outbound_status",
    "daily_limit",
    "monthly_limit",
    "sent_today",
    "sent_this_month",
    "hourly_limit",
    "sent_this_hour",
    "warmup_profile",
    "warmup_cap_today",
    "spike_max_multiplier",
    "bounce_rate",
    "complaint_rate",
    "inherited_from",
}


@tagged("post_install", "-at_install")
class TestOutboundApi(TenancyCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(patch.dict(os.environ, dict.fromkeys(SENDING_ENV, "")))
        cls.env["emboux.send.decision"]._sync_settings()
        cls.free = cls.env.ref("emboux_outbound.tier_free")
        for domain in (cls.domain_a, cls.domain_b, cls.own):
            domain.write({"warmup_profile": False, "outbound_tier_id": cls.free.id})
            domain._set_verification("verified")

    def increment(self, name="acme.test", token=None, **body):
        kwargs = {"token": token} if token else {}
        return self.api("POST", f"/domains/{name}/outbound/increment", json=body, **kwargs)

    def test_get_outbound_object(self):
        self.domain_a.write({"is_wildcard": True})
        sub = self.Domain.create({"name": "eu.acme.test", "tenant_id": self.tenant_a.id})
        body = self.assertStatus(self.api("GET", "/domains/EU.acme.test/outbound"), 200)
        self.assertEqual(set(body), OUTBOUND_KEYS)
        self.assertEqual(
            body,
            {
                "domain": "eu.acme.test",
                "outbound_tier": "free",
                "outbound_enforcement": "hard",
                "outbound_status": "active",
                "daily_limit": 100,
                "monthly_limit": 2000,
                "sent_today": 0,
                "sent_this_month": 0,
                "hourly_limit": 17,
                "sent_this_hour": 0,
                "warmup_profile": "standard",
                "warmup_cap_today": 50,
                "spike_max_multiplier": 5.0,
                "bounce_rate": 0.0,
                "complaint_rate": 0.0,
                "inherited_from": "acme.test",
            },
        )
        self.assertEqual(sub.tenant_id, self.tenant_a)
        # the owner reads it, another tenant does not even see it
        self.assertStatus(
            self.api("GET", "/domains/eu.acme.test/outbound", token=self.token_a), 200
        )
        self.assertStatus(
            self.api("GET", "/domains/eu.acme.test/outbound", token=self.token_b),
            404,
            "Domain not found",
        )
        self.assertStatus(self.api("GET", "/domains/none.test/outbound"), 404, "Domain not found")
        self.assertStatus(self.api("GET", "/domains/acme.test/outbound", token=None), 401)
        # the subdomain's tier and enforcement are its parent's: changing them
        # there is a conflict naming the field, echoing them is fine
        for field, value in (("outbound_tier", "pro"), ("outbound_enforcement", "off")):
            response = self.api("PUT", "/domains/eu.acme.test/outbound", json={field: value})
            detail = self.assertStatus(response, 409)["detail"]
            self.assertTrue(detail.startswith(f"{field}: "), detail)
            self.assertIn("acme.test", detail)
        echo = {"outbound_tier": "free", "outbound_enforcement": "hard", "warmup_profile": "fast"}
        body = self.assertStatus(self.api("PUT", "/domains/eu.acme.test/outbound", json=echo), 200)
        self.assertEqual(body["warmup_profile"], "fast")
        self.assertEqual(sub.outbound_tier_id, self.free)

    def test_put_outbound_master(self):
        body = self.assertStatus(
            self.api(
                "PUT",
                "/domains/acme.test/outbound/",
                json={
                    "outbound_tier": "starter",
                    "outbound_enforcement": "soft",
                    "warmup_profile": "fast",
                    "spike_max_multiplier": 3,
                    "daily_limit": 400,
                },
            ),
            200,
        )
        self.assertEqual(
            {k: body[k] for k in ("outbound_tier", "outbound_enforcement", "warmup_profile")},
            {"outbound_tier": "starter", "outbound_enforcement": "soft", "warmup_profile": "fast"},
        )
        self.assertEqual(
            (body["spike_max_multiplier"], body["daily_limit"], body["hourly_limit"]),
            (3.0, 400, 67),
        )
        self.assertEqual(body["warmup_cap_today"], 50)
        body = self.assertStatus(
            self.api(
                "PUT",
                "/domains/acme.test/outbound",
                json={"warmup_profile": None, "daily_limit": None, "outbound_status": "paused"},
            ),
            200,
        )
        self.assertEqual(
            (body["warmup_profile"], body["daily_limit"], body["outbound_status"]),
            (None, 1000, "paused"),
        )
        # fields not sent stay as they are
        body = self.assertStatus(self.api("PUT", "/domains/acme.test/outbound", json={}), 200)
        self.assertEqual((body["outbound_tier"], body["outbound_status"]), ("starter", "paused"))

    def test_put_outbound_bad_input(self):
        for field, value in (
            ("outbound_tier", "gold"),
            ("outbound_tier", None),
            ("outbound_enforcement", "strict"),
            ("outbound_status", "dead"),
            ("warmup_profile", "turbo"),
            ("spike_max_multiplier", 0.5),
            ("spike_max_multiplier", "x"),
            ("daily_limit", -1),
            ("daily_limit", 1.5),
            ("monthly_limit", "many"),
        ):
            self.assertDetailNames(
                self.api("PUT", "/domains/acme.test/outbound", json={field: value}), 422, field
            )
        self.assertEqual(self.domain_a.outbound_tier_id, self.free)

    def test_put_outbound_customer(self):
        body = self.assertStatus(
            self.api(
                "PUT", "/domains/acme.test/outbound", token=self.token_a, json={"daily_limit": 20}
            ),
            200,
        )
        self.assertEqual((body["daily_limit"], body["hourly_limit"]), (20, 4))
        for field, value in (
            ("outbound_tier", "pro"),
            ("outbound_enforcement", "off"),
            ("outbound_status", "paused"),
            ("warmup_profile", "fast"),
            ("spike_max_multiplier", 50),
        ):
            self.assertStatus(
                self.api(
                    "PUT",
                    "/domains/acme.test/outbound",
                    token=self.token_a,
                    json={field: value, "daily_limit": 5},
                ),
                403,
                MASTER_TOKEN_REQUIRED,
            )
        self.assertEqual(self.domain_a.outbound_daily_cap, 20)
        # the object read back and sent again is accepted
        current = self.api("GET", "/domains/acme.test/outbound", token=self.token_a).json()
        self.assertStatus(
            self.api("PUT", "/domains/acme.test/outbound", token=self.token_a, json=current), 200
        )
        self.assertStatus(
            self.api(
                "PUT", "/domains/globex.test/outbound", token=self.token_a, json={"daily_limit": 1}
            ),
            404,
        )
        self.assertEqual(self.domain_b.outbound_daily_cap, 0)

    def test_increment(self):
        self.env["emboux.suppression"]._suppress(["gone@x.org"], "bounce", "mailgun")
        body = self.assertStatus(
            self.increment(count=1, recipients=["Gone@X.org", "ok@x.org"], size_bytes=100), 200
        )
        self.assertEqual(
            body,
            {
                "allowed": True,
                "reason": None,
                "suppressed_recipients": ["gone@x.org"],
                "sent_today": 1,
                "daily_limit": 100,
                "remaining_today": 99,
            },
        )
        body = self.assertStatus(self.increment(recipients=["gone@x.org"]), 200)
        self.assertEqual(
            body,
            {
                "allowed": False,
                "reason": "suppressed",
                "suppressed_recipients": ["gone@x.org"],
                "sent_today": 1,
                "daily_limit": 100,
                "remaining_today": 99,
            },
        )
        # the body is optional: one message
        body = self.assertStatus(self.api("POST", "/domains/acme.test/outbound/increment/"), 200)
        self.assertEqual(body["sent_today"], 2)
        # 17 an hour on the free tier
        body = self.assertStatus(self.increment(count=98), 200)
        self.assertEqual((body["allowed"], body["reason"]), (False, "hourly_limit"))
        with sending_config(self.env, HOURLY_FRACTION=1):
            body = self.assertStatus(self.increment(count=98), 200)
            self.assertEqual((body["allowed"], body["remaining_today"]), (True, 0))
            body = self.assertStatus(self.increment(), 200)
            self.assertEqual((body["allowed"], body["reason"]), (False, "daily_limit"))
        self.domain_a.action_suspend()
        self.assertEqual(self.increment().json()["reason"], "suspended")

    def test_increment_soft_and_off(self):
        self.domain_a.outbound_enforcement = "soft"
        with sending_config(self.env, HOURLY_FRACTION=1):
            self.assertStatus(self.increment(count=100), 200)
            body = self.assertStatus(self.increment(), 200)
            self.assertEqual(
                body,
                {
                    "allowed": True,
                    "reason": "daily_limit",
                    "suppressed_recipients": [],
                    "sent_today": 101,
                    "daily_limit": 100,
                    "remaining_today": 0,
                },
            )
            self.domain_a.outbound_enforcement = "off"
            body = self.assertStatus(self.increment(), 200)
            self.assertEqual(
                (body["allowed"], body["reason"], body["sent_today"]), (True, None, 102)
            )

    def test_increment_bad_input_and_roles(self):
        for field, value in (
            ("count", 0),
            ("count", -1),
            ("count", "1"),
            ("count", 1.5),
            ("count", True),
            ("count", None),
            ("recipients", "a@x.org"),
            ("recipients", ["not an address"]),
            ("recipients", [1]),
            ("size_bytes", -1),
            ("size_bytes", "10"),
            ("size_bytes", 2**40),
        ):
            self.assertDetailNames(self.increment(**{field: value}), 422, field)
        self.assertStatus(self.increment("nowhere.test"), 404, "Domain not found")
        self.assertStatus(self.increment(token=self.token_a), 403, MASTER_TOKEN_REQUIRED)
        self.assertEqual(self.domain_a.outbound_sent_today, 0)

    def test_resets(self):
        # whatever the database already counted is reset first (rolled back after)
        self.api("POST", "/outbound/reset-daily")
        self.api("POST", "/outbound/reset-monthly")
        self.assertStatus(self.increment(count=5, size_bytes=2 * 1048576), 200)
        self.assertStatus(self.increment("globex.test", count=2), 200)
        body = self.assertStatus(self.api("POST", "/outbound/reset-daily"), 200)
        self.assertEqual(body, {"domains_reset": 2})
        self.assertEqual(self.api("POST", "/outbound/reset-daily/").json(), {"domains_reset": 0})
        outbound = self.api("GET", "/domains/acme.test/outbound").json()
        self.assertEqual((outbound["sent_today"], outbound["sent_this_month"]), (0, 5))
        transfer = self.api("GET", "/domains/acme.test/transfer").json()
        self.assertEqual(transfer["transfer_used_mb"], 2)
        body = self.assertStatus(self.api("POST", "/outbound/reset-monthly"), 200)
        self.assertEqual(body, {"domains_reset": 2})
        outbound = self.api("GET", "/domains/acme.test/outbound").json()
        self.assertEqual(outbound["sent_this_month"], 0)
        self.assertEqual(
            self.api("GET", "/domains/acme.test/transfer").json()["transfer_used_mb"], 0
        )
        for path in ("/outbound/reset-daily", "/outbound/reset-monthly"):
            self.assertStatus(
                self.api("POST", path, token=self.token_a), 403, MASTER_TOKEN_REQUIRED
            )
            self.assertStatus(self.api("POST", path, token=None), 401)

    def test_openapi_marks_master_routes(self):
        schema = self.api("GET", "/openapi.json", token=None).json()
        paths = schema["paths"]
        for path, method in (
            ("/domains/{name}/outbound/increment", "post"),
            ("/outbound/reset-daily", "post"),
            ("/outbound/reset-monthly", "post"),
            ("/suppression", "get"),
            ("/suppression/check/{email}", "get"),
            ("/suppression/{email}", "delete"),
        ):
            self.assertEqual(paths[path][method].get("x-required-role"), "master", path)
        for method in ("get", "put"):
            self.assertNotIn("x-required-role", paths["/domains/{name}/outbound"][method])
