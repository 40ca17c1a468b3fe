"""Sending control of a domain: limits, warm-up, spike, hourly throttle,
transfer limit, the atomic send decision and the reputation rates.

The rules are SQL functions (sql/send_decision.sql, created by
models/emboux_send_decision.py): ``emboux_outbound_limits`` reads a domain's
effective limits (the effective tier through the view
``emboux_domain_effective_outbound``, the domain's own caps, warm-up, spike
average, reputation window) and ``emboux_send_decision`` decides and counts
in a single ``UPDATE ... WHERE <every limit holds> RETURNING`` on the
domain's counter row, so that the counters move only when the message is
allowed, in the statement that checks them: two workers (or the policy
service of the mail hosts, which calls the same function) can neither both
take the last slot nor lose a count. Under Odoo's REPEATABLE READ the later
of two concurrent updates of one row fails to serialize and Odoo retries
its request with a fresh snapshot. The Outbound object (GET) and the staff
form read the same limits.
"""

from datetime import timedelta
import math

import psycopg2.errors

from odoo import api, fields, models
from odoo.exceptions import AccessError, MissingError
from odoo.tools import SQL

from odoo.addons.emboux_core.access import check_master
from odoo.addons.emboux_core.exceptions import EmbouxConflictError, EmbouxInputError
from odoo.addons.emboux_core.tools import check_non_negative_int, normalize_email

from .. import sending_config as config

WARMUP_SELECTION = [
    ("fast", "Fast (x1.8 a day)"),
    ("standard", "Standard (x1.1 a day)"),
    ("conservative", "Conservative (x1.05 a day)"),
]
# settings of PUT /domains/{name}/outbound that only the master may change
MASTER_ONLY_OUTBOUND = (
    "outbound_tier",
    "outbound_enforcement",
    "outbound_status",
    "warmup_profile",
    "spike_max_multiplier",
)
MAX_RECIPIENTS = 1000
# days of history the portal page and the staff form draw
USAGE_CHART_DAYS = 30
# template of the usage figures and chart (portal domain page, staff form)
USAGE_TEMPLATE = "emboux_outbound.outbound_usage"
# chart geometry (SVG user units): bar slot width, plot height
CHART_SLOT = 20
CHART_PLOT_HEIGHT = 100
BYTES_PER_MB = 1048576
# the non-stored fields that show the SQL state on the form
STATE_FIELDS = (
    "outbound_daily_limit",
    "outbound_monthly_limit",
    "outbound_hourly_limit",
    "warmup_cap_today",
    "outbound_sent_today",
    "outbound_sent_this_month",
    "outbound_sent_this_hour",
    "outbound_transfer_used_bytes",
    "outbound_bounce_rate",
    "outbound_complaint_rate",
    "outbound_spike_multiplier",
)


class EmbouxDomain(models.Model):
    _inherit = "emboux.domain"

    # ------------------------------------------------------------------
    # settings
    # ------------------------------------------------------------------
    # two caps each: the customer lowers its own, never above staff's
    outbound_daily_cap = fields.Integer(
        string="Own Daily Cap",
        default=0,
        tracking=14,
        help="The customer's own daily limit (PUT outbound daily_limit): the lowest of "
        "this, the staff cap and the tier's limit applies. 0: none.",
    )
    outbound_monthly_cap = fields.Integer(
        string="Own Monthly Cap",
        default=0,
        tracking=15,
        help="The customer's own monthly limit: the lowest of this, the staff cap and "
        "the tier's limit applies. 0: none.",
    )
    outbound_daily_cap_staff = fields.Integer(
        string="Staff Daily Cap",
        default=0,
        tracking=14,
        help="A daily limit below the tier's set by staff (the master's PUT outbound "
        "daily_limit); the customer cannot raise it. 0: none.",
    )
    outbound_monthly_cap_staff = fields.Integer(
        string="Staff Monthly Cap",
        default=0,
        tracking=15,
        help="A monthly limit below the tier's set by staff; the customer cannot raise "
        "it. 0: none.",
    )
    warmup_profile = fields.Selection(
        WARMUP_SELECTION,
        string="Warm-up",
        default=config.DEFAULT_WARMUP_PROFILE,
        tracking=16,
        help="Progressive daily cap of a new domain: 50 messages on its first day, "
        "multiplied by the profile's factor each day, until it reaches the daily "
        "limit. Empty: no warm-up.",
    )
    warmup_started_on = fields.Date(
        string="Warm-up Start",
        copy=False,
        help="First day of the warm-up. Empty: the day the domain was created.",
    )
    spike_max_multiplier = fields.Float(
        string="Spike Multiplier",
        default=0,
        tracking=17,
        help="Today's volume may be at most this many times the average of the last "
        "7 days. 0: the configured default (SPIKE_MAX_MULTIPLIER, 5).",
    )
    reputation_since = fields.Date(
        copy=False,
        help="Bounce and complaint rates count from this day on (set when a guillotine is lifted).",
    )
    outbound_status_reason = fields.Char(string="Status Reason", copy=False, tracking=13)
    outbound_status_changed_at = fields.Datetime(string="Status Changed At", copy=False)

    # ------------------------------------------------------------------
    # state read from SQL (form)
    # ------------------------------------------------------------------
    outbound_daily_limit = fields.Integer(
        string="Daily Limit", compute="_compute_outbound_state", help="0: no limit."
    )
    outbound_monthly_limit = fields.Integer(
        string="Monthly Limit", compute="_compute_outbound_state", help="0: no limit."
    )
    outbound_hourly_limit = fields.Integer(
        string="Hourly Limit", compute="_compute_outbound_state", help="0: no limit."
    )
    warmup_cap_today = fields.Integer(
        string="Warm-up Cap Today",
        compute="_compute_outbound_state",
        help="0: the warm-up is over (or there is none).",
    )
    outbound_sent_today = fields.Integer(string="Sent Today", compute="_compute_outbound_state")
    outbound_sent_this_month = fields.Integer(
        string="Sent This Month", compute="_compute_outbound_state"
    )
    outbound_sent_this_hour = fields.Integer(
        string="Sent This Hour", compute="_compute_outbound_state"
    )
    outbound_transfer_used_bytes = fields.Float(
        string="Transfer This Month (bytes)", digits=(20, 0), compute="_compute_outbound_state"
    )
    outbound_bounce_rate = fields.Float(
        string="Bounce Rate", digits=(16, 6), compute="_compute_outbound_state"
    )
    outbound_complaint_rate = fields.Float(
        string="Complaint Rate", digits=(16, 6), compute="_compute_outbound_state"
    )
    outbound_spike_multiplier = fields.Float(
        string="Effective Spike Multiplier", compute="_compute_outbound_state"
    )
    outbound_usage_html = fields.Html(
        string="Sending Usage",
        compute="_compute_outbound_usage_html",
        sanitize=False,  # our own QWeb rendering (escaped values, inline SVG)
        help="Today's and this month's counts against each limit, and the last "
        "30 days of messages, bounces and complaints.",
    )

    def _compute_outbound_state(self):
        # a form being edited holds new records: read their saved origin
        origin_ids = [domain._origin.id for domain in self if domain._origin.id]
        states = self.browse(origin_ids).sudo()._read_outbound_state() if origin_ids else {}
        for domain in self:
            state = states.get(domain._origin.id) or {}
            domain.outbound_daily_limit = state.get("daily_limit", 0)
            domain.outbound_monthly_limit = state.get("monthly_limit", 0)
            domain.outbound_hourly_limit = state.get("hourly_limit", 0)
            domain.warmup_cap_today = state.get("warmup_cap") or 0
            domain.outbound_sent_today = state.get("sent_today", 0)
            domain.outbound_sent_this_month = state.get("sent_this_month", 0)
            domain.outbound_sent_this_hour = state.get("sent_this_hour", 0)
            domain.outbound_transfer_used_bytes = state.get("transfer_bytes", 0)
            domain.outbound_bounce_rate = state.get("bounce_rate", 0.0)
            domain.outbound_complaint_rate = state.get("complaint_rate", 0.0)
            domain.outbound_spike_multiplier = state.get("spike_multiplier", 0.0)

    @api.model
    def _invalidate_outbound_state(self):
        self.invalidate_model([*STATE_FIELDS, "transfer_used_mb"])

    # ------------------------------------------------------------------
    # validation and CRUD
    # ------------------------------------------------------------------
    @api.model
    def _tenant_fields(self, operation):
        # a customer may lower its own limits (PUT outbound daily_limit /
        # monthly_limit); warm-up and spike settings stay master-only
        fields_ = super()._tenant_fields(operation)
        if operation == "write":
            fields_ = fields_ | {"outbound_daily_cap", "outbound_monthly_cap"}
        return fields_

    @api.model
    def _prepare_vals(self, vals):
        vals = super()._prepare_vals(vals)
        for fname, api_name in (
            ("outbound_daily_cap", "daily_limit"),
            ("outbound_monthly_cap", "monthly_limit"),
            ("outbound_daily_cap_staff", "daily_limit"),
            ("outbound_monthly_cap_staff", "monthly_limit"),
        ):
            if fname in vals:
                value = vals[fname]
                vals[fname] = check_non_negative_int(
                    0 if value in (None, False) else value, api_name
                )
        if "warmup_profile" in vals:
            value = vals["warmup_profile"]
            if value in (None, False, ""):
                vals["warmup_profile"] = False
            elif value not in config.WARMUP_FACTORS:
                raise EmbouxInputError(
                    "warmup_profile",
                    self.env._(
                        "'%(value)s' is not one of %(allowed)s",
                        value=value,
                        allowed=", ".join(config.WARMUP_FACTORS),
                    ),
                )
        if "spike_max_multiplier" in vals:
            value = vals["spike_max_multiplier"]
            if value in (None, False):
                value = 0.0
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or (value != 0 and not 1 <= value <= 1000)
            ):
                raise EmbouxInputError(
                    "spike_max_multiplier",
                    self.env._("A number from 1 to 1000 is required (null: the default)"),
                )
            vals["spike_max_multiplier"] = float(value)
        return vals

    def _sending_prepare_write(self, vals, extras):
        """The sending values that follow from ``vals`` (emboux_outbound's
        one ``write``), per record in ``extras``: a status change is stamped
        (and its old reason cleared) on the records whose status changes; a
        warm-up (re)starts from its first day on the records that had none;
        a lifted guillotine starts a fresh reputation window. Answers the
        lifted domains, whose today's bounces and complaints are forgotten
        once written."""
        today = fields.Date.today()  # UTC, as the SQL of the limits
        if vals.get("warmup_profile") and "warmup_started_on" not in vals:
            for domain in self.filtered(lambda d: not d.warmup_profile):
                extras[domain.id]["warmup_started_on"] = today
        lifted = self.browse()
        status = vals.get("outbound_status")
        if status:
            changing = self.filtered(lambda d: d.outbound_status != status)
            stamp = {
                "outbound_status_changed_at": fields.Datetime.now(),
                "outbound_status_reason": False,
            }
            for domain in changing:
                extras[domain.id].update({k: v for k, v in stamp.items() if k not in vals})
            if status == "active":
                lifted = changing.filtered(lambda d: d.outbound_status == "guillotined")
                if "reputation_since" not in vals:
                    for domain in lifted:
                        extras[domain.id]["reputation_since"] = today
        return lifted

    def _reset_reputation_counters(self):
        """A lifted guillotine starts a fresh reputation window (its
        ``reputation_since`` is today): today's bounces and complaints are
        forgotten, otherwise the next bounce would guillotine it again."""
        self.env.execute_query(
            SQL(
                "UPDATE emboux_outbound_counter SET bounces_today = 0, complaints_today = 0"
                " WHERE domain_id = ANY(%s)",
                self.ids,
            )
        )
        self._invalidate_outbound_state()

    # ------------------------------------------------------------------
    # the SQL of the limits
    # ------------------------------------------------------------------
    @api.model
    def _outbound_limits_sql(self, domain_ids, today):
        """SELECT of one row per domain of ``domain_ids``: status,
        effective verification/enforcement/tier, the effective daily,
        monthly and hourly limits (0: none), today's warm-up cap (NULL: none
        or over), the spike ceiling of today's volume (NULL: no check), the
        transfer limit in bytes (0: none), and the reputation window's
        history sums (without today's counters). The SQL function
        ``emboux_outbound_limits`` (sql/send_decision.sql) that the send
        decision reads too."""
        return SQL(
            "SELECT * FROM emboux_outbound_limits(%s::integer[], %s::date)",
            list(domain_ids),
            today,
        )

    def _read_outbound_state(self, now=None):
        """``{domain id: dict}``: the limits of :meth:`_outbound_limits_sql`
        with the counters and the bounce and complaint rates over the
        reputation window (history of the last 7 days, from
        ``reputation_since`` on, plus today's counters)."""
        if not self.ids:
            return {}
        now = now or fields.Datetime.now()
        hour = now.replace(minute=0, second=0, microsecond=0)
        self.env.flush_all()
        rows = self.env.execute_query_dict(
            SQL(
                """
                SELECT lim.*,
                       COALESCE(c.sent_today, 0) AS sent_today,
                       COALESCE(c.sent_this_month, 0) AS sent_this_month,
                       CASE WHEN c.hour_start = %s THEN c.sent_this_hour ELSE 0 END
                           AS sent_this_hour,
                       COALESCE(c.transfer_bytes, 0) AS transfer_bytes,
                       COALESCE(c.bounces_today, 0) AS bounces_today,
                       COALESCE(c.complaints_today, 0) AS complaints_today
                  FROM (%s) lim
                  LEFT JOIN emboux_outbound_counter c ON c.domain_id = lim.domain_id
                """,
                hour,
                self._outbound_limits_sql(self.ids, now.date()),
            )
        )
        states = {}
        for row in rows:
            sent = int(row["rep_sent"]) + row["sent_today"]
            bounces = int(row["rep_bounces"]) + row["bounces_today"]
            complaints = int(row["rep_complaints"]) + row["complaints_today"]
            row.update(
                window_sent=sent,
                window_bounces=bounces,
                window_complaints=complaints,
                bounce_rate=round(bounces / sent, 6) if sent else 0.0,
                complaint_rate=round(complaints / sent, 6) if sent else 0.0,
                transfer_bytes=int(row["transfer_bytes"]),
                spike_multiplier=float(row["spike_multiplier"]),
            )
            states[row["domain_id"]] = row
        return states

    def _outbound_info(self):
        """The API's Outbound object of this domain."""
        self.ensure_one()
        state = self._read_outbound_state()[self.id]
        parent_id = state["inherited_from"]
        inherited = self.sudo().browse(parent_id).name if parent_id else None
        return {
            "domain": self.name,
            "outbound_tier": state["tier_code"],
            "outbound_enforcement": state["enforcement"],
            "outbound_status": state["outbound_status"],
            "daily_limit": state["daily_limit"],
            "monthly_limit": state["monthly_limit"],
            "sent_today": state["sent_today"],
            "sent_this_month": state["sent_this_month"],
            "hourly_limit": state["hourly_limit"],
            "sent_this_hour": state["sent_this_hour"],
            "warmup_profile": state["warmup_profile"] or None,
            "warmup_cap_today": state["warmup_cap"],
            "spike_max_multiplier": state["spike_multiplier"],
            "bounce_rate": state["bounce_rate"],
            "complaint_rate": state["complaint_rate"],
            "inherited_from": inherited,
        }

    # ------------------------------------------------------------------
    # usage: figures against the limits and the daily history
    # ------------------------------------------------------------------
    def _outbound_history(self, days=USAGE_CHART_DAYS):
        """The last ``days`` days (1 to HISTORY_KEEP_DAYS, else
        EmbouxInputError naming ``days``) of this domain, oldest first,
        today included: ``[{"day", "sent", "bounces", "complaints"}]``.
        Days without a history row are zeros; today adds the live counters
        to a row a second reset of the day may have filed. Read with the
        caller's access to the domain (GET .../outbound/history, the portal
        and the staff form)."""
        if (
            isinstance(days, bool)
            or not isinstance(days, int)
            or not 1 <= days <= config.HISTORY_KEEP_DAYS
        ):
            raise EmbouxInputError(
                "days",
                self.env._(
                    "A whole number from 1 to %(max)s is required",
                    max=config.HISTORY_KEEP_DAYS,
                ),
            )
        self.ensure_one()
        self.check_access("read")
        today = fields.Datetime.now().date()  # UTC, the day the counters count
        first = today - timedelta(days=days - 1)
        # the history and counter tables are not readable by customers:
        # plain SQL, now that the domain's access is checked
        self.env.flush_all()
        rows = self.env.execute_query(
            SQL(
                "SELECT day, sent, bounces, complaints FROM emboux_outbound_daily"
                " WHERE domain_id = %s AND day BETWEEN %s AND %s",
                self.id,
                first,
                today,
            )
        )
        by_day = {day: [sent, bounces, complaints] for day, sent, bounces, complaints in rows}
        live = self.env.execute_query(
            SQL(
                "SELECT sent_today, bounces_today, complaints_today"
                " FROM emboux_outbound_counter WHERE domain_id = %s",
                self.id,
            )
        )
        if live:
            filed = by_day.get(today, (0, 0, 0))
            by_day[today] = [a + b for a, b in zip(filed, live[0], strict=True)]
        history = []
        for offset in range(days):
            day = first + timedelta(days=offset)
            sent, bounces, complaints = by_day.get(day, (0, 0, 0))
            history.append({"day": day, "sent": sent, "bounces": bounces, "complaints": complaints})
        return history

    def _outbound_usage(self):
        """Today's, this hour's and this month's counts against each
        effective limit, for the portal and the staff form: a list of
        ``{"key", "label", "used", "limit", "percent", "level"}`` (``limit``
        0: none; ``percent`` of the limit, capped at 100 for the bar;
        ``level`` a Bootstrap colour). Transfer is in MB."""
        self.ensure_one()
        self.check_access("read")
        state = self._read_outbound_state()[self.id]
        gauges = [
            ("daily", self.env._("Sent today"), state["sent_today"], state["daily_limit"]),
        ]
        if state["warmup_cap"]:
            label = self.env._("Warm-up cap today")
            gauges.append(("warmup", label, state["sent_today"], state["warmup_cap"]))
        gauges += [
            (
                "hourly",
                self.env._("Sent this hour"),
                state["sent_this_hour"],
                state["hourly_limit"],
            ),
            (
                "monthly",
                self.env._("Sent this month"),
                state["sent_this_month"],
                state["monthly_limit"],
            ),
            (
                "transfer",
                self.env._("Transfer this month (MB)"),
                round(state["transfer_bytes"] / BYTES_PER_MB, 1),
                int(state["transfer_limit"] // BYTES_PER_MB),
            ),
        ]
        usage = []
        for key, label, used, limit in gauges:
            ratio = used / limit if limit else 0
            usage.append(
                {
                    "key": key,
                    "label": label,
                    "used": used,
                    "limit": limit or 0,
                    "percent": min(100, round(ratio * 100)),
                    "level": "danger" if ratio >= 1 else "warning" if ratio >= 0.8 else "success",
                }
            )
        return usage

    @api.model
    def _outbound_history_chart(self, history):
        """Geometry of the inline SVG bar chart of ``history`` (from
        :meth:`_outbound_history`): one slot a day, the messages sent as a
        bar scaled to the busiest day, bounces and complaints as a red bar
        over its foot."""
        peak = max([day["sent"] for day in history] + [1])
        scale = CHART_PLOT_HEIGHT / peak
        bars = []
        for index, day in enumerate(history):
            problems = day["bounces"] + day["complaints"]
            sent_h = round(day["sent"] * scale, 2)
            bad_h = round(min(problems, peak) * scale, 2)
            bars.append(
                {
                    **day,
                    "x": index * CHART_SLOT + 2,
                    "width": CHART_SLOT - 4,
                    "sent_y": CHART_PLOT_HEIGHT - sent_h,
                    "sent_h": sent_h,
                    "bad_y": CHART_PLOT_HEIGHT - bad_h,
                    "bad_h": bad_h,
                }
            )
        return {
            "width": len(history) * CHART_SLOT,
            "plot_height": CHART_PLOT_HEIGHT,
            "height": CHART_PLOT_HEIGHT + 16,
            "peak": peak,
            "bars": bars,
            "first": history[0]["day"] if history else None,
            "last": history[-1]["day"] if history else None,
            "total_sent": sum(day["sent"] for day in history),
            "total_bounces": sum(day["bounces"] for day in history),
            "total_complaints": sum(day["complaints"] for day in history),
        }

    def _outbound_usage_values(self, days=USAGE_CHART_DAYS):
        """The values of the usage template: ``usage_gauges``,
        ``usage_history``, ``usage_chart``, ``usage_days``."""
        history = self._outbound_history(days)
        return {
            "usage_gauges": self._outbound_usage(),
            "usage_history": history,
            "usage_chart": self._outbound_history_chart(history),
            "usage_days": days,
        }

    def _compute_outbound_usage_html(self):
        for domain in self:
            if not domain._origin.id:
                domain.outbound_usage_html = False
                continue
            values = domain._origin._outbound_usage_values()
            domain.outbound_usage_html = self.env["ir.qweb"]._render(USAGE_TEMPLATE, values)

    # ------------------------------------------------------------------
    # PUT /domains/{name}/outbound
    # ------------------------------------------------------------------
    def set_outbound_settings(self, values):
        """Apply the settings of ``PUT /domains/{name}/outbound``: a dict
        with any of ``outbound_tier``, ``outbound_enforcement``,
        ``outbound_status``, ``warmup_profile``, ``spike_max_multiplier``
        (master only) and ``daily_limit``, ``monthly_limit`` (the domain's
        own caps: a value below the tier's limit caps it, 0/None or a value
        at or above the tier's limit removes the cap). A customer sending a
        master-only setting with the value it already has (a GET echoed
        back) is fine; changing one is an AccessError naming it."""
        self.ensure_one()
        values = dict(values)
        # bad numbers fail before anything is written
        for api_name in ("daily_limit", "monthly_limit"):
            if api_name in values:
                value = values[api_name]
                values[api_name] = check_non_negative_int(0 if value is None else value, api_name)
        customer = self.env["emboux.tenant"]._is_tenant_caller()
        if customer:
            current = self._outbound_info()
            for key in MASTER_ONLY_OUTBOUND:
                if key in values and values[key] == current[key]:
                    values.pop(key)
            forbidden = [key for key in MASTER_ONLY_OUTBOUND if key in values]
            if forbidden:
                raise AccessError(
                    self.env._("Only the master can change %(field)s", field=forbidden[0])
                )
        parent = self.sudo().inherited_from_id
        if parent:
            # a linked subdomain sends with its parent's tier and enforcement:
            # a change here would be stored and never used
            current = self._outbound_info()
            for key in ("outbound_tier", "outbound_enforcement"):
                if key in values and values[key] is not None and values[key] != current[key]:
                    raise EmbouxConflictError(
                        key,
                        self.env._(
                            "%(name)s inherits it from its parent %(parent)s; change it there",
                            name=self.name,
                            parent=parent.name,
                        ),
                    )
        vals = {
            key: values[key] for key in ("warmup_profile", "spike_max_multiplier") if key in values
        }
        vals = self._prepare_vals(vals)  # validated before the tier is written
        self.set_outbound(
            tier=values.get("outbound_tier"),
            enforcement=values.get("outbound_enforcement"),
            status=values.get("outbound_status"),
        )
        if vals:
            self.write(vals)
        # the master sets the staff caps, a customer its own (never above
        # staff's: the lowest applies); a value at or above the ceiling
        # removes the cap
        caps = {}
        for api_name in ("daily_limit", "monthly_limit"):
            if api_name in values:
                period = api_name.split("_")[0]
                fname = f"outbound_{period}_cap" + ("" if customer else "_staff")
                ceiling = self._outbound_cap_ceiling(period, staff=customer)
                value = values[api_name]
                caps[fname] = 0 if ceiling and value >= ceiling else value
        if caps:
            self.write(caps)
        return True

    def _outbound_cap_ceiling(self, period, staff=True):
        """The limit a cap of ``period`` ("daily", "monthly") is measured
        against: the tier's, lowered by the staff cap when ``staff``
        (0: none)."""
        self.ensure_one()
        domain = self.sudo()
        limits = [domain.effective_outbound_tier_id[f"{period}_limit"]]
        if staff:
            limits.append(domain[f"outbound_{period}_cap_staff"])
        return min((limit for limit in limits if limit), default=0)

    def action_outbound_resume(self):
        """Staff button: lift a pause or a guillotine (a lifted guillotine
        starts a fresh reputation window). Master only."""
        check_master(self.env)
        self.write({"outbound_status": "active"})
        return True

    def action_outbound_pause(self):
        """Staff button: stop the domain's sending. Master only."""
        check_master(self.env)
        self.write({"outbound_status": "paused"})
        return True

    def button_outbound_pause(self):
        self.action_outbound_pause()
        return self._button_notification(
            self.env._("Sending paused"),
            self.env._(
                "%(names)s sends nothing until a manager resumes it.",
                names=", ".join(self.mapped("name")),
            ),
            kind="warning",
        )

    def button_outbound_resume(self):
        self.action_outbound_resume()
        return self._button_notification(
            self.env._("Sending resumed"),
            self.env._("%(names)s may send again.", names=", ".join(self.mapped("name"))),
        )

    # ------------------------------------------------------------------
    # the send decision
    # ------------------------------------------------------------------
    @api.model
    def _check_send_input(self, count, recipients, size_bytes):
        if count is None or isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise EmbouxInputError("count", self.env._("A positive whole number is required"))
        count = check_non_negative_int(count, "count")
        if recipients is None:
            recipients = []
        if not isinstance(recipients, (list, tuple)):
            raise EmbouxInputError(
                "recipients", self.env._("A list of e-mail addresses is required")
            )
        if len(recipients) > MAX_RECIPIENTS:
            raise EmbouxInputError(
                "recipients",
                self.env._("At most %(max)s addresses", max=MAX_RECIPIENTS),
            )
        normalised = list(dict.fromkeys(normalize_email(r, field="recipients") for r in recipients))
        if isinstance(size_bytes, bool) or not isinstance(size_bytes, int):
            raise EmbouxInputError(
                "size_bytes", self.env._("A non-negative whole number is required")
            )
        size = check_non_negative_int(size_bytes, "size_bytes")
        return count, normalised, size

    def outbound_send_decision(self, count=1, recipients=None, size_bytes=0):
        """May this domain send ``count`` message(s) to ``recipients`` of
        ``size_bytes`` bytes? Counts them when it may. Answers the API's
        dict: ``allowed``, ``reason``, ``suppressed_recipients``,
        ``sent_today``, ``daily_limit``, ``remaining_today``.

        Refused whatever the enforcement: suspended, unverified (the
        effective verification), paused, guillotined, suppressed (every
        recipient is). Over a limit (monthly, daily, warm-up cap, hourly,
        spike, transfer) ``hard`` refuses, ``soft`` allows, counts and names
        the limit in ``reason``, ``off`` allows and counts. The rules are
        the SQL function ``emboux_send_decision`` (sql/send_decision.sql),
        which the policy service of the mail hosts calls too."""
        check_master(self.env)  # POST .../outbound/increment is the master's
        self.ensure_one()
        count, recipients, size = self._check_send_input(count, recipients, size_bytes)
        query = SQL(
            "SELECT * FROM emboux_send_decision(%s, %s, %s, %s::text[], %s)",
            self.id,
            count,
            size,
            recipients,
            fields.Datetime.now(),
        )
        return self._run_send_decision(query, self.name)

    @api.model
    def _run_send_decision(self, query, name):
        """Run a statement calling ``emboux_send_decision``: its row, or
        None when it returned none (no such domain). Two workers counting on
        one row make the later one fail to serialize; Odoo retries the
        request (and logs that at INFO): not a "bad query" for the error
        log. A domain deleted meanwhile (the function's NO_DATA_FOUND) is a
        MissingError naming ``name``."""
        self.env.flush_all()
        try:
            self.env.cr.execute(query, log_exceptions=False)
        except psycopg2.errors.NoDataFound:
            raise MissingError(self.env._("The domain %(name)s is gone.", name=name)) from None
        rows = self.env.cr.dictfetchall()
        if not rows:
            return None
        self._invalidate_outbound_state()
        self.env["emboux.outbound.counter"].invalidate_model()
        return rows[0]

    # ------------------------------------------------------------------
    # reputation
    # ------------------------------------------------------------------
    def _count_reputation_event(self, kind, quantity):
        """Add ``quantity`` bounces or complaints to today's counters."""
        self.ensure_one()
        column = SQL.identifier("bounces_today" if kind == "bounce" else "complaints_today")
        self.env["emboux.outbound.counter"]._ensure_rows(self.ids)
        self.env.execute_query(
            SQL(
                "UPDATE emboux_outbound_counter SET %s = %s + %s WHERE domain_id = %s",
                column,
                column,
                quantity,
                self.id,
            )
        )
        self._invalidate_outbound_state()

    def _check_guillotine(self):
        """Guillotine this domain (outbound_status ``guillotined``) when, over
        the reputation window, it sent at least GUILLOTINE_MIN_VOLUME
        messages and its bounce rate exceeds BOUNCE_RATE_THRESHOLD or its
        complaint rate COMPLAINT_RATE_THRESHOLD. True when the domain is
        guillotined afterwards."""
        self.ensure_one()
        domain = self.sudo()
        if domain.outbound_status == "guillotined":
            return True
        state = domain._read_outbound_state()[domain.id]
        if state["window_sent"] < config.guillotine_min_volume():
            return False
        bounce_limit = config.bounce_rate_threshold()
        complaint_limit = config.complaint_rate_threshold()
        rates = (
            ("bounce", state["window_bounces"] / state["window_sent"], bounce_limit),
            ("complaint", state["window_complaints"] / state["window_sent"], complaint_limit),
        )
        for kind, rate, limit in rates:
            if rate > limit:
                # the audit trail's note: who reported the event, every rate
                domain._track_set_log_message(domain._guillotine_log_message(state, rates))
                domain.write(
                    {
                        "outbound_status": "guillotined",
                        "outbound_status_reason": self.env._(
                            "%(kind)s rate %(rate).2f%% over %(sent)s messages "
                            "exceeds %(limit).2f%%",
                            kind=kind,
                            rate=rate * 100,
                            sent=state["window_sent"],
                            limit=limit * 100,
                        ),
                    }
                )
                return True
        return False

    def _guillotine_log_message(self, state, rates):
        """The audit trail's note of a guillotine (``_check_guillotine``'s
        ``state`` and ``rates``): how the event that triggered it came in (a
        provider's webhook) and each rate against its threshold, over the
        messages of the reputation window."""
        self.ensure_one()
        over = {kind for kind, rate, limit in rates if rate > limit}
        if over == {"bounce", "complaint"}:
            triggers = self.env._("bounce and complaint rates")
        elif over == {"bounce"}:
            triggers = self.env._("bounce rate")
        else:
            triggers = self.env._("complaint rate")
        figures = {kind: (rate * 100, limit * 100) for kind, rate, limit in rates}
        note = self.env._(
            "Guillotined for its %(triggers)s over %(sent)s messages: bounce rate "
            "%(bounce).2f%% (threshold %(bounce_limit).2f%%), complaint rate "
            "%(complaint).2f%% (threshold %(complaint_limit).2f%%).",
            triggers=triggers,
            sent=state["window_sent"],
            bounce=figures["bounce"][0],
            bounce_limit=figures["bounce"][1],
            complaint=figures["complaint"][0],
            complaint_limit=figures["complaint"][1],
        )
        return " ".join(filter(None, (self._emboux_audit_sentence(), note)))
