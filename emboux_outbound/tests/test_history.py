from datetime import date, timedelta
import re

from odoo.exceptions import AccessError
from odoo.tests import Form, freeze_time, new_test_user, tagged

from odoo.addons.emboux_core.exceptions import EmbouxInputError
from odoo.addons.emboux_saas.tests.test_portal import PortalCase

from .. import sending_config as config
from ..models.emboux_outbound_counter import LAST_DAILY_RESET_PARAM
from .sending_common import SendingCase

MB = 1048576
NOW = "2026-03-31 12:00:00"
TODAY = date(2026, 3, 31)


@tagged("post_install", "-at_install")
class TestHistory(SendingCase):
    """The usage history (emboux.domain._outbound_history), the figures
    against the limits, the 400 days the daily reset keeps and the staff
    views."""

    def test_history_oldest_first_zeros_and_today_live(self):
        with freeze_time(NOW):
            self.add_history(self.domain_a, 1, 10, bounces=1)
            self.add_history(self.domain_a, 3, 5, complaints=1)
            self.add_history(self.domain_a, 29, 7)
            self.add_history(self.domain_a, 30, 99)  # one day before the window
            self.add_history(self.domain_b, 1, 1000)  # another domain's
            self.set_counters(sent_today=4, bounces_today=2, complaints_today=1)
            history = self.domain_a._outbound_history(30)
        self.assertEqual(len(history), 30)
        self.assertEqual(
            history[0], {"day": date(2026, 3, 2), "sent": 7, "bounces": 0, "complaints": 0}
        )
        self.assertEqual(
            [d["day"] for d in history], [TODAY - timedelta(days=29 - i) for i in range(30)]
        )
        by_day = {d["day"]: (d["sent"], d["bounces"], d["complaints"]) for d in history}
        self.assertEqual(by_day[TODAY], (4, 2, 1))  # the live counters
        self.assertEqual(by_day[date(2026, 3, 30)], (10, 1, 0))
        self.assertEqual(by_day[date(2026, 3, 28)], (5, 0, 1))
        self.assertEqual(by_day[date(2026, 3, 29)], (0, 0, 0))
        self.assertEqual(sum(d["sent"] for d in history), 26)

    def test_today_adds_a_row_a_second_reset_filed(self):
        with freeze_time(NOW):
            self.add_history(self.domain_a, 0, 3, bounces=1)
            self.set_counters(sent_today=2)
            self.assertEqual(
                self.domain_a._outbound_history(1),
                [{"day": TODAY, "sent": 5, "bounces": 1, "complaints": 0}],
            )

    def test_days_must_be_1_to_400(self):
        for days in (0, -1, 401, "x", "30", 1.5, True, None):
            with self.subTest(days=days), self.assertRaises(EmbouxInputError) as caught:
                self.domain_a._outbound_history(days)
            self.assertEqual(caught.exception.field, "days")
            self.assertEqual(str(caught.exception), "A whole number from 1 to 400 is required")
        self.assertEqual(len(self.domain_a._outbound_history(400)), 400)
        self.assertEqual(config.HISTORY_KEEP_DAYS, 400)

    def test_history_follows_the_callers_access(self):
        self.add_history(self.domain_a, 1, 10)
        own = self.domain_a.with_env(self.tenant_env(self.tenant_a))
        self.assertEqual(own._outbound_history(2)[0]["sent"], 10)
        self.assertEqual(own._outbound_usage()[0]["key"], "daily")
        other = self.domain_a.with_env(self.tenant_env(self.tenant_b))
        with self.assertRaises(AccessError):
            other._outbound_history(2)
        with self.assertRaises(AccessError):
            other._outbound_usage()
        staff = self.domain_a.with_user(self.emboux_user)
        self.assertEqual(staff._outbound_history(2)[0]["sent"], 10)

    def test_usage_against_each_limit(self):
        # free tier: 100 a day, 2,000 a month, 17 an hour
        self.domain_a.monthly_transfer_limit_mb = 10
        self.set_counters(sent_today=85, sent_this_month=2000, transfer_bytes=5 * MB)
        usage = {g["key"]: g for g in self.domain_a._outbound_usage()}
        self.assertEqual(list(usage), ["daily", "hourly", "monthly", "transfer"])
        self.assertEqual(
            {k: (g["used"], g["limit"], g["percent"], g["level"]) for k, g in usage.items()},
            {
                "daily": (85, 100, 85, "warning"),
                "hourly": (0, 17, 0, "success"),
                "monthly": (2000, 2000, 100, "danger"),
                "transfer": (5.0, 10, 50, "success"),
            },
        )
        # a warm-up adds its cap; no limit reads 0
        self.domain_a.write({"warmup_profile": "standard"})
        self.domain_a.monthly_transfer_limit_mb = 0
        usage = {g["key"]: g for g in self.domain_a._outbound_usage()}
        self.assertEqual((usage["warmup"]["used"], usage["warmup"]["limit"]), (85, 50))
        self.assertEqual((usage["warmup"]["percent"], usage["warmup"]["level"]), (100, "danger"))
        self.assertEqual((usage["transfer"]["limit"], usage["transfer"]["percent"]), (0, 0))

    def test_chart_geometry(self):
        with freeze_time(NOW):
            self.add_history(self.domain_a, 1, 50, bounces=5)
            self.set_counters(sent_today=100)
            values = self.domain_a._outbound_usage_values()
        chart = values["usage_chart"]
        self.assertEqual((chart["peak"], chart["total_sent"], len(chart["bars"])), (100, 150, 30))
        today, yesterday = chart["bars"][-1], chart["bars"][-2]
        self.assertEqual((today["sent_h"], today["sent_y"]), (100, 0))
        self.assertEqual((yesterday["sent_h"], yesterday["bad_h"]), (50, 5))

    def test_daily_reset_keeps_400_days(self):
        self.env["ir.config_parameter"].set_param(LAST_DAILY_RESET_PARAM, False)
        with freeze_time(NOW):
            for days_ago in (1, 8, 20, 400, 401, 500):
                self.add_history(self.domain_a, days_ago, 10)
            self.Counter.reset_daily()
            rows = self.env["emboux.outbound.daily"].search([("domain_id", "=", self.domain_a.id)])
            kept = sorted((TODAY - row.day).days for row in rows)
        self.assertEqual(kept, [1, 8, 20, 400])

    def test_spike_and_reputation_still_read_seven_days(self):
        self.assertEqual(config.HISTORY_DAYS, 7)
        self.backdate(self.domain_a, 60)
        self.add_history(self.domain_a, 2, 700)
        # older than the 7 days: neither the spike average nor the rates
        self.add_history(self.domain_a, 8, 70000, bounces=5000, complaints=500)
        state = self.domain_a._read_outbound_state()[self.domain_a.id]
        self.assertEqual(state["window_sent"], 700)
        self.assertEqual((state["bounce_rate"], state["complaint_rate"]), (0.0, 0.0))
        self.assertEqual(state["spike_allowed"], 500)  # 5 x 700 / 7
        self.assertFalse(self.domain_a._check_guillotine())

    def test_staff_views(self):
        action = self.env.ref("emboux_outbound.action_emboux_outbound_daily")
        self.assertEqual(action.view_mode, "list,graph,pivot")
        usage = self.env.ref("emboux_outbound.action_emboux_outbound_usage")
        self.assertEqual(usage.view_mode, "graph,pivot,list")
        Daily = self.env["emboux.outbound.daily"].with_user(self.emboux_user)
        views = Daily.get_views([(False, "graph"), (False, "pivot"), (False, "search")])["views"]
        self.assertIn('name="tenant_id"', views["graph"]["arch"])
        self.assertIn('name="tenant_id"', views["pivot"]["arch"])
        self.assertIn("filter_last_30_days", views["search"]["arch"])
        # by tenant and by day, as the graph and pivot group
        self.add_history(self.domain_a, 1, 10)
        self.add_history(self.domain_a, 2, 5)
        self.add_history(self.domain_b, 1, 7)
        groups = Daily._read_group(
            [("domain_id", "in", (self.domain_a | self.domain_b).ids)], ["tenant_id"], ["sent:sum"]
        )
        self.assertEqual(
            {tenant.partner_ref: sent for tenant, sent in groups}, {"acme": 15, "globex": 7}
        )
        self.assertTrue(Daily.fields_get(["tenant_id"])["tenant_id"]["groupable"])
        self.assertTrue(
            Daily._read_group([("tenant_id", "=", self.tenant_a.id)], ["day:day"], ["__count"])
        )
        # staff keep read-only history
        with self.assertRaises(AccessError):
            Daily.create({"domain_id": self.domain_a.id, "day": date(2020, 1, 1)})
        with self.assertRaises(AccessError):
            self.env["emboux.outbound.daily"].with_user(self.emboux_manager).create(
                {"domain_id": self.domain_a.id, "day": date(2020, 1, 1)}
            )

    def test_staff_form_shows_the_usage(self):
        form = self.env["emboux.domain"].with_user(self.emboux_user).get_views([(False, "form")])
        self.assertIn('name="outbound_usage_html"', form["views"]["form"]["arch"])
        self.set_counters(sent_today=12)
        html = str(self.domain_a.with_user(self.emboux_user).outbound_usage_html)
        self.assertRegex(html, r'data-key="daily" data-used="12" data-limit="100"')
        self.assertIn("<svg", html)
        self.assertEqual(html.count("o_emboux_usage_day"), 30)
        # the form a manager opens loads it (nothing to save)
        form = Form(self.domain_a.with_user(self.emboux_manager))
        self.assertIn("o_emboux_usage_gauge", str(form.outbound_usage_html))


@tagged("post_install", "-at_install")
class TestPortalUsage(PortalCase):
    """The portal's domain page and list show the sending usage."""

    def _counters(self, domain, **values):
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE emboux_outbound_counter SET sent_today = %s WHERE domain_id = %s",
            (values["sent_today"], domain.id),
        )
        self.env.invalidate_all()

    def test_domain_page_shows_figures_and_chart(self):
        self._counters(self.domain_a, sent_today=12)
        self.env["emboux.outbound.daily"].create(
            {"domain_id": self.domain_a.id, "day": date.today() - timedelta(days=1), "sent": 7}
        )
        limit = self.domain_a.outbound_daily_limit
        self.login(self.user_a)
        text = self.get(f"/my/domains/{self.domain_a.id}").text
        self.assertIn('<section id="usage"', text)
        self.assertIn(f'data-key="daily" data-used="12" data-limit="{limit}"', text)
        self.assertIn('class="progress"', text)
        self.assertIn("<svg", text)
        days = re.findall(r'o_emboux_usage_day" data-day="([\d-]+)" data-sent="(\d+)"', text)
        self.assertEqual(len(days), 30)
        self.assertEqual(days[-1], (str(date.today()), "12"))
        self.assertEqual(days[-2][1], "7")
        self.assertIn("19 sent", text)
        # another tenant's page is not found
        self.get(f"/my/domains/{self.domain_b.id}", status=404)

    def test_domain_list_shows_sent_today(self):
        self._counters(self.domain_a, sent_today=3)
        limit = self.domain_a.outbound_daily_limit
        self.login(self.user_a)
        text = self.get("/my/domains").text
        self.assertIn('<th class="text-end">Sent today</th>', text)
        self.assertIn(f'o_emboux_domain_sent_today" data-sent="3" data-limit="{limit}"', text)

    def test_staff_form_draws_the_usage_in_the_browser(self):
        new_test_user(
            self.env,
            login="usage_staff",
            password="usage_staff",
            groups="base.group_user,emboux_core.group_emboux_user",
        )
        self._counters(self.domain_a, sent_today=4)
        # open the Outbound page of the form and wait for the chart's bars
        code = """
            const start = Date.now();
            const look = () => {
                const page = document.querySelector('.o_notebook a[name="outbound"]');
                if (page && !page.classList.contains("active")) { page.click(); }
                const days = document.querySelectorAll(".o_form_view .o_emboux_usage_day");
                const gauge = document.querySelector('.o_form_view [data-used="4"]');
                if (days.length === 30 && gauge) {
                    console.log("test successful");
                } else if (Date.now() - start > 120000) {
                    console.error("no usage chart on the form");
                } else {
                    setTimeout(look, 250);
                }
            };
            look();
        """
        self.browser_js(
            f"/odoo/emboux.domain/{self.domain_a.id}",
            code,
            login="usage_staff",
            timeout=180,
        )

    def test_staff_usage_graph_and_pivot_in_the_browser(self):
        new_test_user(
            self.env,
            login="usage_graph",
            password="usage_graph",
            groups="base.group_user,emboux_core.group_emboux_user",
        )
        self.env["emboux.outbound.daily"].create(
            {"domain_id": self.domain_a.id, "day": date.today() - timedelta(days=1), "sent": 9}
        )
        # the graph (last 30 days, by day and tenant), then the pivot by tenant
        code = """
            const start = Date.now();
            const look = () => {
                const canvas = document.querySelector(".o_graph_view canvas");
                const pivotButton = document.querySelector(".o_switch_view.o_pivot");
                const table = document.querySelector(".o_pivot_view table");
                if (table && table.innerText.includes("portal-acme")) {
                    console.log("test successful");
                } else if (Date.now() - start > 30000) {
                    console.error("no usage graph or pivot by tenant");
                } else {
                    if (canvas && pivotButton && !document.querySelector(".o_pivot_view")) {
                        pivotButton.click();
                    }
                    setTimeout(look, 250);
                }
            };
            look();
        """
        self.browser_js(
            "/odoo/action-emboux_outbound.action_emboux_outbound_usage",
            code,
            login="usage_graph",
            timeout=180,
        )
