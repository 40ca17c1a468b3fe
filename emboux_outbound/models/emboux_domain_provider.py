"""A domain at its mail provider: verification, DKIM, subdomain
registration, SMTP credential, cleanup, and the DNS records to publish.

Every front door (backend, portal, REST API) goes through these methods;
the provider calls run as superuser once the caller's access to the domain
is checked. A provider that fails or times out never loses the domain: the
domain keeps (or gets) ``verification_status`` ``pending`` with the error in
``provider_error``, and the polling cron retries (see README).
"""

from collections import defaultdict
from datetime import timedelta
import logging

from markupsafe import Markup

from odoo import api, fields, models
from odoo.tools import SQL

from odoo.addons.emboux_core.exceptions import EmbouxConflictError, EmbouxInputError
from odoo.addons.emboux_core.tools import (
    CONCURRENCY_ERRORS,
    get_config,
    normalize_domain,
    quiet_concurrency_errors,
)
from odoo.addons.emboux_saas.dns_records import dns_records

from ..providers import ProviderError, get_provider, provider_codes
from ..webhooks import sns

_logger = logging.getLogger(__name__)

DEFAULT_PROVIDER_PARAM = "emboux_outbound.default_provider"
POLL_BATCH = 100
# a domain an API request is writing: the poll waits this long for its lock,
# then leaves it to a retry this many minutes later
POLL_LOCK_TIMEOUT = "2s"
POLL_RETRY_MINUTES = 5
PROVIDER_ERROR_MAX = 500


def records_to_publish(domain_name, provider=None, provider_records=()):
    """``[{"type": "MX"|"SPF"|"TXT"|"DKIM", "rrtype", "name", "value",
    "priority"}]``: emboux_saas's MX and SPF (the SPF with the provider's
    include), then the provider's records that belong to this name (a
    subdomain signing with its parent's key publishes no DKIM of its own).
    ``rrtype`` is the DNS type to publish (MX, TXT, CNAME)."""
    result = []
    for rec in dns_records(domain_name):
        value = rec["value"]
        if rec["type"] == "TXT" and value.startswith("v=spf1"):
            if provider and provider.spf_include and provider.spf_include not in value.split():
                head, sep, tail = value.rpartition(" ")
                value = f"{head} {provider.spf_include}{sep}{tail}" if sep else value
            result.append(
                {"type": "SPF", "rrtype": "TXT", "name": rec["name"], "value": value}
                | {"priority": None}
            )
        else:
            result.append({**rec, "rrtype": rec["type"], "priority": rec.get("priority")})
    for rec in provider_records:
        name = rec["name"]
        if name == domain_name or name.endswith("." + domain_name):
            result.append(dict(rec))
    return result


class EmbouxDomain(models.Model):
    _inherit = "emboux.domain"

    provider = fields.Selection(default=lambda self: self._default_provider())
    provider_identity = fields.Selection(
        [("own", "Own identity"), ("subdomain", "Parent's identity")],
        string="Provider Identity",
        readonly=True,
        copy=False,
        help="What exists at the provider for this domain: its own identity, or a "
        "subdomain registered with its parent's identity (DKIM). Empty: nothing yet.",
    )
    provider_error = fields.Char(
        readonly=True,
        copy=False,
        help="The provider's last failure (network, timeout, refusal). The polling "
        "cron retries; cleared by the next successful call.",
    )
    provider_checked_at = fields.Datetime(string="Provider Checked At", readonly=True, copy=False)
    provider_record_ids = fields.One2many(
        "emboux.domain.provider.record",
        "domain_id",
        string="Provider DNS Records",
        readonly=True,
        copy=False,
    )
    smtp_login = fields.Char(
        string="SMTP Relay Login",
        readonly=True,
        copy=False,
        help="The domain's SMTP credential at the provider (Mailgun), created on "
        "activation when missing.",
    )
    # The relay's SMTP password: the only provider secret stored, because the
    # mail server presents it to the relay (it cannot be a hash). Readable by
    # system administrators only, never logged, never answered by the API.
    smtp_password = fields.Char(
        string="SMTP Relay Password",
        readonly=True,
        copy=False,
        groups="base.group_system",
        prefetch=False,
    )
    ses_notification_topic_arn = fields.Char(
        string="SES Feedback Topic",
        readonly=True,
        copy=False,
        index="btree_not_null",
        groups="base.group_system,emboux_core.group_emboux_manager",
        help="The SNS topic the suite pointed this domain's SES bounce and complaint "
        "notifications at (setting emboux_ses_notification_topic_arn); the SES webhook "
        "trusts it. Empty: not set by the suite (the cron sets it once configured).",
    )

    dns_records_html = fields.Html(
        string="DNS Records to Publish",
        compute="_compute_dns_records_html",
        sanitize=False,
        help="What the customer publishes: MX and SPF, then the provider's records.",
    )

    @api.depends("name", "provider", "parent_id", "provider_record_ids")
    def _compute_dns_records_html(self):
        head = Markup(
            '<table class="table table-sm o_emboux_dns"><thead><tr><th>%s</th><th>%s</th>'
            "<th>%s</th><th>%s</th><th>%s</th></tr></thead><tbody>"
        ) % (
            self.env._("Purpose"),
            self.env._("DNS Type"),
            self.env._("Name"),
            self.env._("Priority"),
            self.env._("Value"),
        )
        for domain in self:
            if not domain.name or not domain.id:
                domain.dns_records_html = False
                continue
            rows = Markup("").join(
                Markup(
                    "<tr><td>%s</td><td>%s</td><td><code>%s</code></td><td>%s</td>"
                    "<td><code>%s</code></td></tr>"
                )
                % (rec["type"], rec["rrtype"], rec["name"], rec["priority"] or "", rec["value"])
                for rec in domain._dns_records_to_publish()
            )
            domain.dns_records_html = head + rows + Markup("</tbody></table>")

    # ------------------------------------------------------------------
    # the default provider (Settings)
    # ------------------------------------------------------------------
    @api.model
    def _default_provider(self):
        """The provider of a new domain sent without one: the one Settings
        names; when Settings names none, the one the configuration sets up
        (a server configured only through the environment): Mailgun when
        ``MAILGUN_API_KEY`` is set, else SES when ``AWS_ENDPOINT_URL_SES`` or
        ``AWS_REGION`` is; else none. The parameter value ``none`` means
        explicitly none."""
        code = self.env["ir.config_parameter"].sudo().get_param(DEFAULT_PROVIDER_PARAM)
        allowed = [key for key, _label in self._fields["provider"].selection]
        if code in allowed:
            return code
        if code:
            return False
        if get_config("emboux_mailgun_api_key", env="MAILGUN_API_KEY"):
            return "mailgun"
        if get_config("emboux_aws_endpoint_url_ses", env="AWS_ENDPOINT_URL_SES") or get_config(
            "emboux_aws_region", env="AWS_REGION"
        ):
            return "ses"
        return False

    def _effective_provider_code(self):
        """The provider that holds this domain's identity: the inheritance
        root's for a linked subdomain, else its own."""
        self.ensure_one()
        return self._inheritance_root().sudo().provider or False

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        explicit = [bool(vals.get("provider")) for vals in vals_list]
        # a new wildcard parent adopts existing subdomains inside create:
        # they are registered below, once the parent exists at its provider
        domains = (
            super(EmbouxDomain, self.with_context(emboux_provider_defer=True))
            .create(vals_list)
            .with_env(self.env)
        )
        for domain, given in zip(domains, explicit, strict=True):
            root = domain._inheritance_root().sudo()
            if root == domain or not root.provider or domain.sudo().provider == root.provider:
                continue
            if given:
                raise EmbouxInputError(
                    "provider",
                    self.env._(
                        "provider: '%(name)s' is a subdomain of %(parent)s and sends through "
                        "its provider (%(provider)s)",
                        name=domain.name,
                        parent=root.name,
                        provider=root.provider,
                    ),
                )
            domain.sudo().provider = root.provider
        domains.sudo()._provider_setup()
        adopted = domains.sudo().filtered("is_wildcard").child_ids - domains
        adopted._provider_register_linked()
        return domains

    def write(self, vals):
        """A domain newly linked to a parent with a provider (``set_parent``,
        a new wildcard parent adopting its subdomains) is registered with the
        parent's identity as at creation, when it has no other provider."""
        watch = vals.get("parent_id") and not self.env.context.get("emboux_provider_defer")
        before = {d.id: d.parent_id.id for d in self} if watch else {}
        res = super().write(vals)
        if before:
            linked = self.filtered(lambda d: d.parent_id and d.parent_id.id != before.get(d.id))
            linked.sudo()._provider_register_linked()
        return res

    def _provider_register_linked(self):
        """Register these (newly linked) subdomains with their parent's
        identity, unless one has a provider of its own that differs."""
        for domain in self:
            root_provider = domain._effective_provider_code()
            if root_provider and domain.provider in (False, root_provider):
                if not domain.provider:
                    domain.provider = root_provider
                domain._provider_register_subdomain(strict=False)

    def unlink(self):
        """The provider state of deleted domains is removed after the
        commit (never for a rolled back deletion), best effort: a failure is
        logged as a warning and the local deletion stands."""
        cleanup = [
            (d.name, d.provider_identity, d._effective_provider_code())
            for d in self.sudo()
            if d.provider_identity
        ]
        res = super().unlink()
        cleanup = [item for item in cleanup if item[2]]
        if cleanup:
            self.env.cr.postcommit.add(lambda: cleanup_provider_state(cleanup))
        return res

    def action_activate(self):
        """Also bootstraps the Mailgun SMTP credential when it is missing
        (idempotent; SES has one credential for the account)."""
        res = super().action_activate()
        self.sudo()._provider_ensure_smtp_credential()
        return res

    # ------------------------------------------------------------------
    # the provider calls (sudo: the caller's access is checked before)
    # ------------------------------------------------------------------
    def _provider_setup(self):
        """A new domain: a linked subdomain is registered with its parent's
        identity (always at creation), any other domain with a
        provider starts its own verification."""
        linked = self.filtered("parent_id")
        (self - linked).filtered("provider")._provider_start_verification()
        linked._provider_register_subdomain(strict=False)

    def _provider_failed(self, exc, pending):
        _logger.warning("Provider call failed for %s: %s", ", ".join(self.mapped("name")), exc)
        self.write(
            {
                "provider_error": str(exc)[:PROVIDER_ERROR_MAX],
                "provider_checked_at": fields.Datetime.now(),
            }
        )
        if pending:
            self.filtered(lambda d: d.verification_status != "verified")._set_verification(
                "pending"
            )

    def _provider_store(self, status, identity=None, code=None):
        """Record a successful answer: the error is cleared, the records
        replaced when the answer tells them."""
        self.ensure_one()
        vals = {"provider_error": False, "provider_checked_at": fields.Datetime.now()}
        if identity:
            vals["provider_identity"] = identity
        if status.records is not None and status.records != self.provider_record_ids._as_dict():
            self.provider_record_ids.unlink()
            code = code or self._effective_provider_code()
            vals["provider_record_ids"] = [
                fields.Command.create(
                    {
                        "sequence": seq,
                        "provider": code,
                        "type": rec["type"],
                        "rrtype": rec["rrtype"],
                        "name": rec["name"],
                        "value": rec["value"],
                        "priority": rec.get("priority") or 0,
                    }
                )
                for seq, rec in enumerate(status.records)
            ]
        self.write(vals)

    def _provider_start_verification(self):
        """Create (or reuse) the identity of each domain at its provider and
        start its verification. Failure: pending + provider_error. Once a
        provider did not answer at all, the following domains of that
        provider are not tried in this call (one timeout, not one each).
        Then the SES feedback of the started ones is wired."""
        unreachable = {}
        started = self.browse()
        for domain in self:
            provider = get_provider(domain.provider)
            if not provider:
                continue
            if domain.provider in unreachable:
                domain._provider_failed(unreachable[domain.provider], pending=True)
                continue
            try:
                status = provider.start_verification(domain.name)
            except ProviderError as exc:
                domain._provider_failed(exc, pending=True)
                if exc.unreachable:
                    unreachable[domain.provider] = exc
                continue
            domain._provider_store(status, identity="own")
            started |= domain
            # a restart (verify again) does not downgrade a verified domain
            # to the provider's immediate "pending"; the next poll tells
            if domain.verification_status != "verified":
                domain._set_verification(status.verification, status.dkim)
                if status.verification == "verified":
                    domain._provider_notify_verified()
        started._provider_wire_feedback(announce=True)

    def _provider_wire_feedback(self, announce=False):
        """Point the bounce and complaint notifications of these domains'
        own identities at the topic of ``emboux_ses_notification_topic_arn``
        (SES), where the recorded topic differs; the topic is recorded on
        the domain (the SES webhook trusts it). Unset: nothing is set (with
        ``announce``, one INFO line says to wire the feedback by hand). A
        failure is a provider failure (the polling cron sets it later); once
        the provider did not answer at all, the following domains are not
        tried in this call."""
        topic = sns.notification_topic()
        domains = self.filtered(
            lambda d: (
                d.provider_identity == "own"
                and d.ses_notification_topic_arn != topic
                and getattr(get_provider(d.provider), "notification_topics", False)
            )
        )
        if not domains:
            return
        if not topic:
            if announce:
                _logger.info(
                    "No SES notification topic is configured (emboux_ses_notification_topic_arn):"
                    " point the bounce and complaint notifications of %s at SNS by hand",
                    ", ".join(domains.mapped("name")),
                )
            return
        unreachable = None
        for domain in domains:
            if unreachable:
                domain._provider_failed(unreachable, pending=False)
                continue
            try:
                get_provider(domain.provider).set_notification_topic(domain.name, topic)
            except ProviderError as exc:
                domain._provider_failed(exc, pending=False)
                unreachable = exc if exc.unreachable else None
                continue
            domain.write({"ses_notification_topic_arn": topic, "provider_error": False})

    def _provider_register_subdomain(self, strict=True):
        """Register these linked subdomains with their parent's identity and
        bootstrap their SMTP credential, so they send at once.
        ``strict`` (the explicit action): the parent must be verified and
        have a provider, else EmbouxConflictError naming ``name``."""
        for domain in self:
            root = domain._inheritance_root().sudo()
            if root == domain:
                if strict:
                    raise EmbouxConflictError(
                        "name",
                        self.env._(
                            "name: '%(name)s' is not a subdomain of a wildcard parent",
                            name=domain.name,
                        ),
                    )
                continue
            if strict and (not root.provider or root.verification_status != "verified"):
                raise EmbouxConflictError(
                    "name",
                    self.env._(
                        "name: the parent %(parent)s of '%(name)s' is not verified at a provider",
                        parent=root.name,
                        name=domain.name,
                    ),
                )
            provider = get_provider(root.provider)
            if not provider:
                continue
            try:
                status = provider.register_subdomain(domain.name, root.name)
            except ProviderError as exc:
                domain._provider_failed(exc, pending=False)
                continue
            domain._provider_store(status, identity="subdomain", code=root.provider)
            domain._provider_ensure_smtp_credential()

    def _provider_ensure_smtp_credential(self):
        """The per-domain SMTP credential (Mailgun), created only when
        missing; skipped for providers with one credential for the account
        (SES) and for domains without provider."""
        for domain in self:
            provider = get_provider(domain._effective_provider_code())
            if not provider or not provider.per_domain_smtp_credentials:
                continue
            try:
                credential = provider.ensure_smtp_credential(domain.name)
            except ProviderError as exc:
                domain._provider_failed(exc, pending=False)
                continue
            domain.write({"smtp_login": credential.login, "provider_error": False})
            if credential.created:
                domain._store_smtp_password(credential.password)

    def _store_smtp_password(self, password):
        """Store the relay password by a statement that reaches no log (an
        ORM write would show it at ``--log-sql``)."""
        self.ensure_one()
        self.env["emboux.mail.server.views"]._execute_unlogged(
            SQL("UPDATE emboux_domain SET smtp_password = %s WHERE id = %s", password, self.id)
        )
        self.invalidate_recordset(["smtp_password"])

    def _provider_refresh(self, providers=None):
        """Ask the providers for the state of these domains' own identities
        (a linked subdomain's is its root's), per provider in as few calls as
        it allows; a domain whose identity was never created, or vanished,
        starts its verification again. Answers the domains that became
        verified (they are notified). ``providers``: ``{code: provider}``
        instances to use instead of new ones (a client of the caller's)."""
        roots = self.browse()
        for domain in self:
            roots |= domain._inheritance_root().sudo()
        roots = roots.filtered("provider")
        # never reached the provider (a failed start): start again; a domain
        # verified by staff without an identity here is left alone
        to_start = roots.filtered(
            lambda d: d.provider_identity != "own" and d.verification_status != "verified"
        )
        roots -= roots.filtered(lambda d: d.provider_identity != "own") - to_start
        was_verified = roots.filtered(lambda d: d.verification_status == "verified")
        by_code = defaultdict(lambda: self.browse())
        answered = roots.browse()
        for domain in roots - to_start:
            by_code[domain.provider] |= domain
        for code, domains in by_code.items():
            provider = (providers or {}).get(code) or get_provider(code)
            try:
                statuses = provider.get_statuses(domains.mapped("name"))
            except ProviderError as exc:
                domains._provider_failed(exc, pending=False)
                continue
            by_status = defaultdict(lambda: self.browse())
            for domain in domains:
                status = statuses[domain.name]
                if status.error:
                    domain._provider_failed(status.error, pending=False)
                    continue
                if not status.exists:
                    to_start |= domain
                    continue
                domain._provider_store(status, code=code)
                answered |= domain
                by_status[(status.verification, status.dkim)] |= domain
            for (verification, dkim), group in by_status.items():
                group._set_verification(verification, dkim)  # one write per state
        answered._provider_wire_feedback()  # when missing (a failure at creation)
        to_start._provider_start_verification()
        newly = roots.filtered(lambda d: d.verification_status == "verified") - was_verified
        newly._provider_notify_verified()
        return newly

    def _provider_notify_verified(self):
        """A domain became verified: an INFO log line and a bus notification
        to the Emboux managers (sticky, so it waits for their next page)."""
        if not self:
            return
        names = ", ".join(self.mapped("name"))
        _logger.info("Provider verification succeeded: %s", names)
        managers = self.env.ref("emboux_core.group_emboux_manager").sudo().all_user_ids
        for user in managers.filtered(lambda u: u.active and not u.share):
            user._bus_send(
                "simple_notification",
                {
                    "type": "success",
                    "sticky": True,
                    "title": self.env._("Domain verified"),
                    "message": self.env._("Verified at the mail provider: %(names)s", names=names),
                },
            )

    # ------------------------------------------------------------------
    # the polling cron (every 2 hours)
    # ------------------------------------------------------------------
    @api.model
    def _cron_poll_provider_verification(self, batch_size=POLL_BATCH):
        """The polling cron: (1) the pending root domains are refreshed (or
        started again when they never reached the provider), (2) the linked
        subdomains whose registration failed are registered again, (3) the
        own identities whose SES feedback topic is missing or outdated get
        the one of ``emboux_ses_notification_topic_arn`` (when set). Oldest
        check first, in batches of ``batch_size``, each domain once per run
        (those checked before the run started). Inside the cron each batch
        is committed (``_commit_progress``) and the run stops when its time
        is up; the next run goes on.

        A batch that meets a concurrent transaction on one of its domains
        (an API request writing it: serialization failure, lock not
        available, deadlock) is rolled back and its domains are polled one
        by one, so that only the contested ones wait; those stay "not
        checked in this run", an INFO line says they are retried, and the
        cron is triggered again in ``POLL_RETRY_MINUTES`` (no ERROR: it is
        no failure). Answers the number of domains handled."""
        started = fields.Datetime.now()
        Domain = self.sudo()
        in_cron = bool(self.env.context.get("ir_cron_progress_id"))
        checked_before = [
            "|",
            ("provider_checked_at", "=", False),
            ("provider_checked_at", "<", started),
        ]
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
        if in_cron:
            remaining = sum(Domain.search_count(search) for search, _job in jobs)
            self.env["ir.cron"]._commit_progress(remaining=remaining)
        done = 0
        busy = Domain.browse()
        out_of_time = False
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
            cron = self.env.ref("emboux_outbound.ir_cron_emboux_provider_poll", False)
            if cron:
                cron.sudo()._trigger(fields.Datetime.now() + timedelta(minutes=POLL_RETRY_MINUTES))
            if in_cron and not out_of_time:
                # the busy ones are the trigger's: this run is complete
                self.env["ir.cron"]._commit_progress(remaining=0)
        return done

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

    # ------------------------------------------------------------------
    # business methods: the one code path of forms, portal and API
    # ------------------------------------------------------------------
    def _check_owner_action(self):
        """A customer acts on its own domains only (record rules; another
        tenant's is not found)."""
        self.check_access("write")

    def action_provider_verify(self):
        """``POST /domains/{name}/verify`` (also self-service): start
        the verification at the provider (a linked subdomain is registered
        with its parent's identity instead). A domain without provider gets
        the default one of Settings; none: EmbouxInputError naming
        ``provider``. Answers True; see ``_dns_records_to_publish``."""
        self._check_owner_action()
        for domain in self.sudo():
            if domain.parent_id:
                root = domain._inheritance_root()
                if not root.provider:
                    raise EmbouxInputError(
                        "provider",
                        self.env._(
                            "provider: '%(name)s' sends with its parent %(parent)s, which has "
                            "no mail provider",
                            name=domain.name,
                            parent=root.name,
                        ),
                    )
                domain._provider_register_subdomain(strict=False)
                continue
            if not domain.provider:
                default = self._default_provider()
                if not default:
                    raise EmbouxInputError(
                        "provider",
                        self.env._(
                            "provider: '%(name)s' has no mail provider and none is set in Settings",
                            name=domain.name,
                        ),
                    )
                domain.provider = default
            domain._provider_start_verification()
        return True

    def action_provider_refresh(self):
        """``GET /domains/{name}/verify-status``: refresh from the provider
        (it writes the answer: the master's or the owner's to ask)."""
        self._check_owner_action()
        self.sudo()._provider_refresh()
        return True

    def action_provider_register_subdomain(self):
        """``POST /domains/{name}/register-subdomain``: this domain
        is a subdomain of a verified wildcard parent; register it so that it
        sends at once with the parent's DKIM identity. EmbouxConflictError
        naming ``name`` otherwise."""
        self._check_owner_action()
        self.sudo()._provider_register_subdomain(strict=True)
        return True

    def _provider_status(self):
        """The verify-status object: ``{"status", "dkim_status", "provider",
        "verified_at", "inherited_from", "provider_error"}`` (effective
        values: a linked subdomain answers its root's)."""
        self.ensure_one()
        effective = self._effective_outbound()
        domain = self.sudo()
        root = domain._inheritance_root().sudo()
        return {
            "domain": domain.name,
            "status": effective["verification_status"],
            "dkim_status": effective["dkim_status"],
            "provider": domain._effective_provider_code() or None,
            "verified_at": effective["verified_at"] or None,
            "inherited_from": effective["inherited_from"],
            "provider_error": domain.provider_error or root.provider_error or None,
        }

    def _dns_records_to_publish(self):
        """The DNS records the customer publishes for this domain (the
        portal, the staff form, ``POST /verify`` and ``GET /dns-check``):
        see :func:`records_to_publish`."""
        self.ensure_one()
        self.check_access("read")
        domain = self.sudo()
        provider = get_provider(domain._effective_provider_code())
        return records_to_publish(
            domain.name, provider, domain.provider_record_ids.sorted("sequence")._as_dict()
        )

    @api.model
    def _provider_verify_remote(self, name, provider_code=None):
        """The master verifies a root domain that is not hosted here:
        start its verification at ``provider_code`` (default: the
        Settings one) and answer ``(status dict, records)``. Staff/master
        only; nothing is stored."""
        if self.env["emboux.tenant"]._is_tenant_caller():
            raise EmbouxInputError("name", self.env._("name: unknown domain"))
        name = normalize_domain(name, field="name")
        code = provider_code or self._default_provider()
        provider = get_provider(code)
        if not provider:
            raise EmbouxInputError(
                "provider", self.env._("provider: no mail provider is set in Settings")
            )
        error = None
        topic = sns.notification_topic()
        try:
            status = provider.start_verification(name)
        except ProviderError as exc:
            _logger.warning("Provider call failed for %s: %s", name, exc)
            error = str(exc)[:PROVIDER_ERROR_MAX]
            records = []
            verification = dkim = "pending"
        else:
            records = status.records or []
            verification, dkim = status.verification, status.dkim
            if topic and provider.notification_topics:
                # its feedback too, though nothing is stored for it here
                try:
                    provider.set_notification_topic(name, topic)
                except ProviderError as exc:
                    _logger.warning("Provider call failed for %s: %s", name, exc)
                    error = str(exc)[:PROVIDER_ERROR_MAX]
        return (
            {
                "domain": name,
                "status": verification,
                "dkim_status": dkim,
                "provider": code,
                "verified_at": None,
                "inherited_from": None,
                "provider_error": error,
            },
            records_to_publish(name, provider, records),
        )


def cleanup_provider_state(items):
    """After the commit of a deletion: remove each ``(name, identity,
    provider code)`` at its provider. Best effort, a warning on failure."""
    for name, identity, code in items:
        provider = get_provider(code)
        if not provider:
            continue
        try:
            if identity == "subdomain":
                provider.cleanup_subdomain(name)
            else:
                provider.delete_domain(name)
            _logger.info("Provider state of the deleted domain %s removed (%s)", name, code)
        except ProviderError as exc:
            _logger.warning("Could not remove the deleted domain %s at %s: %s", name, code, exc)
