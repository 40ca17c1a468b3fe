"""The provider work after the commit.

Creating, linking and activating a domain make no provider call: they
record what must happen (``provider_setup_pending``,
``provider_credential_pending``, a change of provider's
``provider_next``), commit, and wake the polling cron at once
(``ir.cron._trigger()``). So a slow provider never holds the tenant's
quota row (taken by every domain, mailbox and alias insert of the tenant),
nor any other row, and a serialization retry of the request repeats no
HTTP call.

The cron does that work one domain at a time: it commits (in its own
transaction nothing is locked then, no snapshot is held), reads what the
domain needs, makes the provider calls, then writes the answers in a short
transaction of their own. Every call is idempotent (an identity that exists
at the provider is reused), so a run cut short, a lost race or a provider
failure is retried safely by the next run. Then it polls what waits for
the provider: pending verifications, failed subdomain registrations, SES
feedback topics, the new provider of a domain that moves.
"""

from datetime import timedelta
import logging

from odoo import api, fields, models
from odoo.tools import SQL

from odoo.addons.emboux_core.exceptions import EmbouxInputError
from odoo.addons.emboux_core.tools import CONCURRENCY_ERRORS, quiet_concurrency_errors

from ..providers import get_provider, provider_codes
from ..webhooks import sns
from .emboux_domain_provider import (
    announce_missing_topic,
    cleanup_provider_state,
    run_provider_calls,
)

_logger = logging.getLogger(__name__)

POLL_CRON = "emboux_outbound.ir_cron_emboux_provider_poll"
POLL_BATCH = 100
# a domain an API request is writing: the poll waits this long for its lock,
# then leaves it to a retry this many minutes later
POLL_LOCK_TIMEOUT = "2s"
POLL_RETRY_MINUTES = 5
# the domains with provider work waiting for the cron
PENDING_WORK = [
    "|",
    "|",
    ("provider_setup_pending", "=", True),
    ("provider_credential_pending", "=", True),
    "&",
    ("provider_next", "!=", False),
    ("provider_next_status", "=", "not_started"),
]


class EmbouxDomain(models.Model):
    _inherit = "emboux.domain"

    # ------------------------------------------------------------------
    # what create and write record
    # ------------------------------------------------------------------
    @api.model
    def _prepare_create_vals(self, vals_list):
        """A new domain's provider set-up is recorded, done after the
        commit: a subdomain linked to a parent whose root has a provider
        takes that provider and is registered with the parent's identity
        (EmbouxInputError naming ``provider`` when it asks for another one);
        any other domain with a provider (its own, else the default of
        Settings) gets its own identity, and answers ``pending`` at once."""
        vals_list = super()._prepare_create_vals(vals_list)
        for vals in vals_list:
            parent = self.sudo().browse(vals.get("parent_id") or [])
            if parent:
                root = parent._inheritance_root().sudo()
                if not root.provider:
                    continue  # it sends with its parent's verification
                if vals.get("provider") and vals["provider"] != root.provider:
                    raise EmbouxInputError(
                        "provider",
                        self.env._(
                            "'%(name)s' is a subdomain of %(parent)s and sends through "
                            "its provider (%(provider)s)",
                            name=vals.get("name"),
                            parent=root.name,
                            provider=root.provider,
                        ),
                    )
                vals["provider"] = root.provider
                vals["provider_setup_pending"] = True
                continue
            if "provider" not in vals:
                vals["provider"] = self._default_provider()
            if vals["provider"]:
                vals["provider_setup_pending"] = True
                if vals.get("verification_status", "not_started") != "verified":
                    vals["verification_status"] = "pending"
        return vals_list

    def _provider_prepare_write(self, vals, extras):
        """A domain newly linked to a parent whose root has a provider
        (``set_parent``, a new wildcard parent adopting its subdomains) is
        registered with the parent's identity as at creation, when it has
        no other provider: its values go into ``extras`` (emboux_outbound's
        one ``write``). Answers True when provider work was recorded."""
        if not vals.get("parent_id"):
            return False
        parent = self.sudo().browse(vals["parent_id"])
        root = parent._inheritance_root().sudo()
        code = root.provider
        work = False
        for domain in self.sudo() if code else ():
            if domain.parent_id == parent or domain == root:
                continue
            if domain.provider not in (False, code) or "provider_setup_pending" in vals:
                continue
            if not domain.provider and "provider" not in vals:
                extras[domain.id]["provider"] = code
            extras[domain.id]["provider_setup_pending"] = True
            work = True
        return work

    @api.model
    def _provider_trigger_sync(self, minutes=0):
        """Wake the polling cron: it runs as soon as this transaction is
        committed (never for a rolled back one), or ``minutes`` later."""
        cron = self.env.ref(POLL_CRON, raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger(fields.Datetime.now() + timedelta(minutes=minutes))

    def _provider_register_linked(self):
        """Register these linked subdomains with their parent's identity,
        unless one has a provider of its own that differs."""
        self.filtered(
            lambda d: (
                d._effective_provider_code() and d.provider in (False, d._effective_provider_code())
            )
        )._provider_register_subdomain(strict=False)

    # ------------------------------------------------------------------
    # the polling cron (every 2 hours, and at once when work is recorded)
    # ------------------------------------------------------------------
    @api.model
    def _cron_poll_provider_verification(self, batch_size=POLL_BATCH):
        """The polling cron: (0) the recorded work (set-up, SMTP
        credential, the start at a new provider), one domain at a time,
        roots first; (1) the pending root domains are refreshed (or started
        again when they never reached the provider), (2) the linked
        subdomains whose registration failed are registered again, (3) the
        own identities whose SES feedback topic is missing or outdated get
        the one of ``emboux_ses_notification_topic_arn`` (when set), (4) the
        domains moving to another provider ask it, and switch once it
        verified them. Oldest check first, in batches of ``batch_size``,
        each domain once per run (those checked before the run started).
        Inside the cron each domain of (0) and each batch is committed
        (``_commit_progress``) and the run stops when its time is up; the
        next run goes on.

        A unit that meets a concurrent transaction on one of its domains
        (an API request writing it: serialization failure, lock not
        available, deadlock) is rolled back (a batch is then polled one by
        one, so that only the contested ones wait); those stay "not checked
        in this run", an INFO line says they are retried, and the cron is
        triggered again in ``POLL_RETRY_MINUTES`` (no ERROR: it is no
        failure). Answers the number of domains handled."""
        started = fields.Datetime.now()
        Domain = self.sudo()
        in_cron = bool(self.env.context.get("ir_cron_progress_id"))
        checked_before = [
            "|",
            ("provider_checked_at", "=", False),
            ("provider_checked_at", "<", started),
        ]
        # all of it, whenever checked last (each domain once: the ids now)
        pending = Domain.search(PENDING_WORK, order="id")
        pending = pending.sorted(lambda d: (bool(d.parent_id), d.id)).ids
        jobs = [
            (
                [
                    ("verification_status", "=", "pending"),
                    ("provider", "!=", False),
                    ("parent_id", "=", False),
                    *checked_before,
                ],
                lambda batch: batch._provider_refresh(),
            ),
            (
                [
                    ("parent_id", "!=", False),
                    ("provider_error", "!=", False),
                    ("provider_identity", "!=", "subdomain"),
                    *checked_before,
                ],
                lambda batch: batch._provider_register_linked(),
            ),
        ]
        topic = sns.notification_topic()
        wired_codes = [c for c in provider_codes() if get_provider(c).notification_topics]
        if topic and wired_codes:
            # (3) own identities whose feedback topic is missing or another
            # one (the setting changed); the pending ones were refreshed in (1)
            jobs.append(
                (
                    [
                        ("provider_identity", "=", "own"),
                        ("provider", "in", wired_codes),
                        ("ses_notification_topic_arn", "!=", topic),
                        *checked_before,
                    ],
                    lambda batch: batch._provider_wire_feedback(),
                )
            )
        jobs.append(
            (
                [
                    ("provider_next", "!=", False),
                    ("provider_next_status", "=", "pending"),
                    *checked_before,
                ],
                lambda batch: batch._provider_refresh_moves(),
            )
        )
        if in_cron:
            remaining = len(pending) + sum(Domain.search_count(search) for search, _job in jobs)
            self.env["ir.cron"]._commit_progress(remaining=remaining)
        done, busy, out_of_time = Domain._provider_run_pending(pending, in_cron)
        for search, job in jobs:
            while not out_of_time:
                batch = Domain.search(
                    [("id", "not in", busy.ids), *search],
                    limit=batch_size,
                    order="provider_checked_at asc nulls first, id",
                )
                if not batch:
                    break
                handled = batch._poll_batch(job, started, in_cron)
                busy |= batch - handled
                done += len(handled)
                if in_cron and self.env["ir.cron"]._commit_progress(len(handled)) <= 0:
                    out_of_time = True
        if busy:
            _logger.info(
                "Provider poll: %s met a concurrent update; retried in %s minutes",
                ", ".join(busy.mapped("name")),
                POLL_RETRY_MINUTES,
            )
            self._provider_trigger_sync(minutes=POLL_RETRY_MINUTES)
            if in_cron and not out_of_time:
                # the busy ones are the trigger's: this run is complete
                self.env["ir.cron"]._commit_progress(remaining=0)
        return done

    @api.model
    def _provider_run_pending(self, domain_ids, in_cron):
        """Do the recorded work of these domains, one at a time. In the cron
        each domain is its own transactions: the plan is read and the
        transaction ended before the provider is called, so no lock is
        held and no snapshot kept during the call; the answers are written
        in a new, short one. Answers ``(handled count, busy domains, out of
        time)``."""
        Domain = self.sudo()
        cr = self.env.cr
        unreachable = {}
        announce = []
        done = handled = 0
        failed = False
        busy = Domain.browse()
        for domain_id in domain_ids:
            if in_cron and self.env["ir.cron"]._commit_progress(handled) <= 0:
                return done, busy, True
            handled = 0
            domain = Domain.browse(domain_id).exists()
            plans = domain._provider_pending_plans() if domain else []
            if not plans:
                continue
            if in_cron:
                # nothing held, no snapshot kept, while the provider is waited for
                self.env["ir.cron"]._commit_progress(0)
            answers = [(plan, run_provider_calls(plan, unreachable)) for plan in plans]
            failed = failed or any(
                out.get("error") or out.get("credential_error") for _plan, out in answers
            )
            try:
                with quiet_concurrency_errors(), cr.savepoint():
                    if in_cron:
                        cr.execute(
                            SQL("SELECT set_config('lock_timeout', %s, true)", POLL_LOCK_TIMEOUT)
                        )
                    domain = Domain.browse(domain_id).exists()
                    if not domain:
                        self._provider_forget(answers)
                        continue
                    current = domain._provider_pending_plans()
                    for plan, out in answers:
                        if plan in current:  # what the domain still needs
                            domain._provider_apply(plan, out, announce)
                    domain.write({"provider_checked_at": fields.Datetime.now()})
            except CONCURRENCY_ERRORS as exc:
                _logger.info(
                    "Provider work of %s rolled back (%s)", domain.name, type(exc).__name__
                )
                busy |= domain
                continue
            done += 1
            handled = 1
        announce_missing_topic(announce)
        if unreachable or failed:
            # recorded work a provider failed: sooner than the next 2 hours
            self._provider_trigger_sync(minutes=POLL_RETRY_MINUTES)
        if in_cron and self.env["ir.cron"]._commit_progress(handled) <= 0:
            return done, busy, True
        return done, busy, False

    def _provider_pending_plans(self):
        """The plans of this domain's recorded work (plain values, see
        emboux_domain_provider.py), in order: set-up, SMTP credential, the
        start at its new provider. A flag whose work has become pointless
        (no provider any more) gives a plan without provider, which only
        clears it."""
        self.ensure_one()
        plans = []
        if self.provider_setup_pending:
            plans.append(self._provider_setup_plan() or {"kind": "own", "name": self.name})
        if self.provider_credential_pending:
            plans.append(self._provider_credential_plan() or {"kind": "credential"})
        if self.provider_next and self.provider_next_status == "not_started":
            plans.append(self._provider_move_plan())
        for plan in plans:
            plan.setdefault("name", self.name)
        return plans

    @api.model
    def _provider_forget(self, answers):
        """The domain was deleted while its provider was called: what the
        calls created goes too (the deletion's cleanup could not know it)."""
        items = []
        for plan, out in answers:
            if out.get("status") and plan["kind"] in ("own", "move", "subdomain"):
                identity = "subdomain" if plan["kind"] == "subdomain" else "own"
                items.append((plan["name"], identity, plan["code"]))
        cleanup_provider_state(items)

    def _poll_batch(self, job, started, in_cron):
        """Run ``job`` on these domains in a savepoint and mark them checked;
        answers the domains handled. On a concurrency failure the savepoint
        rolls back and the domains are tried one by one (after a commit in
        the cron, for a fresh snapshot); one that fails again is left out.
        The cron waits ``POLL_LOCK_TIMEOUT`` at most for a lock an API
        request holds."""
        cr = self.env.cr
        if in_cron:
            cr.execute(SQL("SELECT set_config('lock_timeout', %s, true)", POLL_LOCK_TIMEOUT))
        units = [self] if len(self) == 1 else [self, *self]
        handled = self.browse()
        for unit in units:
            try:
                with quiet_concurrency_errors(), cr.savepoint():
                    job(unit)
                    # whatever the provider answered, not again in this run
                    unit.filtered(
                        lambda d: not d.provider_checked_at or d.provider_checked_at < started
                    ).write({"provider_checked_at": fields.Datetime.now()})
            except CONCURRENCY_ERRORS as exc:
                _logger.info(
                    "Provider poll of %s rolled back (%s)",
                    ", ".join(unit.mapped("name")),
                    type(exc).__name__,
                )
                if unit is self and in_cron:
                    # the failed statement's snapshot is stale: a new one
                    self.env["ir.cron"]._commit_progress(0)
                    cr.execute(
                        SQL("SELECT set_config('lock_timeout', %s, true)", POLL_LOCK_TIMEOUT)
                    )
                continue
            handled |= unit
            if unit is self:
                break
        return handled
