"""A domain at its mail provider: its identity (verification, DKIM,
subdomain registration, SMTP credential, SES feedback topic), the DNS
records to publish and their check, the explicit actions (verify, refresh,
register) with the form's buttons.

Every provider exchange is a *plan* (plain values: what to call for which
domain), its *calls* (:func:`run_provider_calls`, no database access) and
the *apply* of the answers. The calls of a set of domains are all made
before anything is written, so no row this transaction writes is locked
while a provider is waited for. Every front door (backend, portal, REST
API) goes through these methods; the provider calls run as superuser once
the caller's access to the domain is checked. A provider that fails or
times out never loses the domain: the domain keeps (or gets)
``verification_status`` ``pending`` with the error in ``provider_error``,
and the polling cron retries (emboux_domain_provider_sync.py).
"""

from collections import defaultdict
import logging

from markupsafe import Markup

from odoo import api, fields, models
from odoo.tools import SQL

from odoo.addons.emboux_core.exceptions import EmbouxConflictError, EmbouxInputError
from odoo.addons.emboux_core.tools import get_config, normalize_domain
from odoo.addons.emboux_saas.dns_records import dns_records

from .. import dns_check
from ..providers import ProviderError, get_provider
from ..webhooks import sns

_logger = logging.getLogger(__name__)

DEFAULT_PROVIDER_PARAM = "emboux_outbound.default_provider"
PROVIDER_ERROR_MAX = 500
# the flag a plan's success clears (the work the polling cron does after the commit)
PENDING_FLAGS = {
    "own": "provider_setup_pending",
    "subdomain": "provider_setup_pending",
    "credential": "provider_credential_pending",
}


def records_to_publish(domain_name, provider=None, provider_records=(), next_provider=None):
    """``[{"type": "MX"|"SPF"|"TXT"|"DKIM", "rrtype", "name", "value",
    "priority"}]``: emboux_saas's MX and SPF (the SPF with the provider's
    include, and the one of ``next_provider`` while the domain moves to
    it), then the provider's records that belong to this name (a subdomain
    signing with its parent's key publishes no DKIM of its own). ``rrtype``
    is the DNS type to publish (MX, TXT, CNAME)."""
    includes = [p.spf_include for p in (provider, next_provider) if p and p.spf_include]
    result = []
    for rec in dns_records(domain_name):
        value = rec["value"]
        if rec["type"] == "TXT" and value.startswith("v=spf1"):
            for include in includes:
                if include not in value.split():
                    head, sep, tail = value.rpartition(" ")
                    value = f"{head} {include}{sep}{tail}" if sep else value
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


def run_provider_calls(plan, unreachable, providers=None):
    """Make the provider calls of one ``plan`` (a dict from the domain's
    ``_provider_*_plan`` methods: ``kind`` own|move|subdomain|credential|
    feedback, ``code``, ``name``, ``root``, ``topic``, ``credential``).
    No database access: safe outside any transaction. Answers ``{"status",
    "error", "topic_set", "topic_error", "credential", "credential_error",
    "skipped"}``. ``unreachable`` (``{(code, step): error}``, shared by the
    calls of one run) makes a provider that did not answer at all fail the
    following domains of that step at once (one timeout, not one each).
    ``providers``: ``{code: provider}`` to use instead of new ones."""
    out = {}
    code = plan.get("code")
    provider = (providers or {}).get(code) or get_provider(code)
    if provider is None:
        out["skipped"] = True
        return out

    def call(step, method, *args):
        known = unreachable.get((code, step))
        if known:
            raise known
        try:
            return method(*args)
        except ProviderError as exc:
            if exc.unreachable:
                unreachable[(code, step)] = exc
            raise

    name, kind = plan["name"], plan["kind"]
    try:
        if kind in ("own", "move"):
            out["status"] = call("identity", provider.start_verification, name)
        elif kind == "subdomain":
            out["status"] = call("identity", provider.register_subdomain, name, plan["root"])
        elif kind == "credential":
            out["credential"] = call("credential", provider.ensure_smtp_credential, name)
    except ProviderError as exc:
        out["error"] = exc
        return out
    if plan.get("topic"):
        try:
            call("topic", provider.set_notification_topic, name, plan["topic"])
            out["topic_set"] = True
        except ProviderError as exc:
            out["topic_error"] = exc
    if plan.get("credential") and provider.per_domain_smtp_credentials:
        try:
            out["credential"] = call("credential", provider.ensure_smtp_credential, name)
        except ProviderError as exc:
            out["credential_error"] = exc
    return out


def cleanup_provider_state(items):
    """After the commit of a deletion (or of a change of provider): remove
    each ``(name, identity, provider code)`` at its provider. Best effort,
    a warning on failure."""
    for name, identity, code in items:
        provider = get_provider(code)
        if not provider:
            continue
        try:
            if identity == "subdomain":
                provider.cleanup_subdomain(name)
            else:
                provider.delete_domain(name)
            _logger.info("Provider state of %s removed (%s)", name, code)
        except ProviderError as exc:
            _logger.warning("Could not remove the deleted domain %s at %s: %s", name, code, exc)


def announce_missing_topic(names):
    """One INFO line for the SES identities whose feedback nobody wires."""
    if names:
        _logger.info(
            "No SES notification topic is configured (emboux_ses_notification_topic_arn):"
            " point the bounce and complaint notifications of %s at SNS by hand",
            ", ".join(names),
        )


class EmbouxDomain(models.Model):
    _inherit = "emboux.domain"

    provider_identity = fields.Selection(
        [("own", "Own identity"), ("subdomain", "Parent's identity")],
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
    provider_checked_at = fields.Datetime(readonly=True, copy=False)
    provider_setup_pending = fields.Boolean(
        string="Provider Set-up Pending",
        readonly=True,
        copy=False,
        help="The domain's identity (or its registration with the parent's) is to be "
        "created at the provider: the polling cron does it right after the commit and "
        "retries it until the provider answers.",
    )
    provider_credential_pending = fields.Boolean(
        string="SMTP Credential Pending",
        readonly=True,
        copy=False,
        help="The domain was activated: its SMTP relay credential is to be made sure of "
        "at the provider (Mailgun), by the polling cron after the commit.",
    )
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

    @api.depends("name", "provider", "provider_next", "parent_id", "provider_record_ids")
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
    # deletion and activation
    # ------------------------------------------------------------------
    def _provider_identities(self):
        """``[(name, identity, provider code)]``: what exists at the
        providers for these domains (a domain moving to another provider
        has an identity there too)."""
        items = []
        for domain in self.sudo():
            code = domain._effective_provider_code()
            if domain.provider_identity and code:
                items.append((domain.name, domain.provider_identity, code))
            if domain.provider_next and domain.provider_next_status != "not_started":
                items.append((domain.name, "own", domain.provider_next))
        return items

    def unlink(self):
        """The provider state of deleted domains is removed after the
        commit (never for a rolled back deletion), best effort: a failure is
        logged as a warning and the local deletion stands."""
        cleanup = self._provider_identities()
        res = super().unlink()
        if cleanup:
            self.env.cr.postcommit.add(lambda: cleanup_provider_state(cleanup))
        return res

    def action_activate(self):
        """Also bootstraps the Mailgun SMTP credential when it is missing
        (after the commit, by the polling cron; idempotent; SES has one
        credential for the account)."""
        res = super().action_activate()
        needing = self.sudo().filtered(
            lambda d: getattr(
                get_provider(d._effective_provider_code()), "per_domain_smtp_credentials", False
            )
        )
        if needing:
            needing.write({"provider_credential_pending": True})
            self._provider_trigger_sync()
        return res

    # ------------------------------------------------------------------
    # plans: what to call for a domain (plain values, read only)
    # ------------------------------------------------------------------
    def _provider_topic_plan(self, code):
        """The feedback part of a plan for an own identity at ``code``:
        ``{"topic": arn}`` to point its SES notifications at the configured
        topic, ``{"announce": True}`` when none is configured, ``{}``."""
        if not getattr(get_provider(code), "notification_topics", False):
            return {}
        topic = sns.notification_topic()
        if not topic:
            return {"announce": True}
        if self.sudo().ses_notification_topic_arn == topic:
            return {}
        return {"topic": topic}

    def _provider_feedback_plan(self):
        """Point this own identity's SES feedback at the configured topic
        (or announce that none is), when the provider has such a setting."""
        self.ensure_one()
        topic = self._provider_topic_plan(self.provider)
        if not topic:
            return None
        return {"kind": "feedback", "code": self.provider, "name": self.name, **topic}

    def _provider_own_plan(self):
        """Create (or reuse) this domain's own identity at its provider and
        start its verification, with its SES feedback."""
        self.ensure_one()
        if not self.provider:
            return None
        return {
            "kind": "own",
            "code": self.provider,
            "name": self.name,
            **self._provider_topic_plan(self.provider),
        }

    def _provider_subdomain_plan(self):
        """Register this linked subdomain with its root's identity, with its
        SMTP credential where the provider has one per domain."""
        self.ensure_one()
        root = self._inheritance_root().sudo()
        if root == self or not root.provider:
            return None
        return {
            "kind": "subdomain",
            "code": root.provider,
            "name": self.name,
            "root": root.name,
            "credential": True,
        }

    def _provider_setup_plan(self):
        """The set-up of a new (or newly linked) domain: a linked subdomain
        is registered with its parent's identity, any other domain with a
        provider gets its own."""
        self.ensure_one()
        if self._inheritance_root() != self:
            return self._provider_subdomain_plan()
        return self._provider_own_plan()

    def _provider_credential_plan(self):
        self.ensure_one()
        code = self._effective_provider_code()
        if not getattr(get_provider(code), "per_domain_smtp_credentials", False):
            return None
        return {"kind": "credential", "code": code, "name": self.name}

    # ------------------------------------------------------------------
    # calls and their answers
    # ------------------------------------------------------------------
    @api.model
    def _provider_run(self, plans, providers=None):
        """``plans``: ``[(domain, plan)]``. Every call first, then every
        answer written (see the module's docstring)."""
        unreachable = {}
        answers = [
            (domain, plan, run_provider_calls(plan, unreachable, providers))
            for domain, plan in plans
            if plan
        ]
        announce = []
        for domain, plan, out in answers:
            domain._provider_apply(plan, out, announce)
        announce_missing_topic(announce)
        return answers

    def _provider_apply(self, plan, out, announce=None):
        """Write what the provider answered to ``plan`` (``out`` from
        :func:`run_provider_calls`); a failure is recorded, not raised.
        Answers True when the main call succeeded."""
        self.ensure_one()
        kind = plan["kind"]
        if kind == "move":
            return self._provider_apply_move(plan, out)
        if out.get("skipped"):  # no such provider (any more): nothing to do
            flag = PENDING_FLAGS.get(kind)
            if flag and self[flag]:
                self.write({flag: False})
            return False
        if out.get("error"):
            self._provider_failed(out["error"], pending=kind == "own")
            return False
        if kind in ("own", "subdomain"):
            status = out["status"]
            vals = {"provider_setup_pending": False}
            if kind == "subdomain" and not self.provider:
                vals["provider"] = plan["code"]
            self._provider_store(status, identity=kind, code=plan["code"], vals=vals)
            # a restart (verify again) does not downgrade a verified domain
            # to the provider's immediate "pending"; the next poll tells
            if kind == "own" and self.verification_status != "verified":
                self._set_verification(status.verification, status.dkim)
                if status.verification == "verified":
                    self._provider_notify_verified()
        if out.get("topic_set"):
            self.write({"ses_notification_topic_arn": plan["topic"], "provider_error": False})
        elif out.get("topic_error"):
            self._provider_failed(out["topic_error"], pending=False)
        elif plan.get("announce") and announce is not None:
            announce.append(self.name)
        credential = out.get("credential")
        if credential:
            self.write(
                {
                    "smtp_login": credential.login,
                    "provider_error": False,
                    "provider_credential_pending": False,
                }
            )
            if credential.created:
                self._store_smtp_password(credential.password)
        elif out.get("credential_error"):
            self._provider_failed(out["credential_error"], pending=False)
            # retried by the cron
            self.write({"provider_credential_pending": True})
        elif kind == "credential" and self.provider_credential_pending:
            self.write({"provider_credential_pending": False})  # none per domain
        return True

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

    def _provider_store(self, status, identity=None, code=None, vals=None):
        """Record a successful answer: the error is cleared, the records of
        provider ``code`` replaced when the answer tells them."""
        self.ensure_one()
        vals = dict(vals or {}, provider_error=False, provider_checked_at=fields.Datetime.now())
        if identity:
            vals["provider_identity"] = identity
        code = code or self._effective_provider_code()
        self._provider_replace_records(status.records, code, vals)
        self.write(vals)

    def _provider_replace_records(self, records, code, vals):
        """Put into ``vals`` the replacement of the stored records of
        provider ``code`` by ``records`` (None: the answer does not tell
        them, keep the stored ones)."""
        current = self.provider_record_ids.filtered(lambda r: r.provider == code)
        if records is None or records == current._as_dict():
            return
        commands = [fields.Command.unlink(rec.id) for rec in current]
        commands += [
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
            for seq, rec in enumerate(records)
        ]
        vals["provider_record_ids"] = commands

    def _store_smtp_password(self, password):
        """Store the relay password by a statement that reaches no log (an
        ORM write would show it at ``--log-sql``); False clears it."""
        self.ensure_one()
        self.env["emboux.mail.server.views"]._execute_unlogged(
            SQL(
                "UPDATE emboux_domain SET smtp_password = %s WHERE id = %s",
                password or None,
                self.id,
            )
        )
        self.invalidate_recordset(["smtp_password"])

    # ------------------------------------------------------------------
    # the provider work, now (explicit actions and the polling cron)
    # ------------------------------------------------------------------
    def _provider_start_verification(self):
        """Create (or reuse) the identity of each domain at its provider and
        start its verification, then wire its SES feedback. Failure: pending
        + provider_error."""
        self._provider_run([(domain, domain._provider_own_plan()) for domain in self])

    def _provider_wire_feedback(self, announce=False):
        """Point the bounce and complaint notifications of these domains'
        own identities at the topic of ``emboux_ses_notification_topic_arn``
        (SES), where the recorded topic differs; the topic is recorded on
        the domain (the SES webhook trusts it). Unset: nothing is set (with
        ``announce``, one INFO line says to wire the feedback by hand). A
        failure is a provider failure (the polling cron sets it later)."""
        plans = []
        for domain in self.filtered(lambda d: d.provider_identity == "own"):
            plan = domain._provider_feedback_plan()
            if plan and (plan.get("topic") or announce):
                plans.append((domain, plan))
        self._provider_run(plans)

    def _provider_register_subdomain(self, strict=True):
        """Register these linked subdomains with their parent's identity and
        bootstrap their SMTP credential, so they send at once.
        ``strict`` (the explicit action): the parent must be verified and
        have a provider, else EmbouxConflictError naming ``name``."""
        plans = []
        for domain in self:
            root = domain._inheritance_root().sudo()
            if root == domain:
                if strict:
                    raise EmbouxConflictError(
                        "name",
                        self.env._(
                            "'%(name)s' is not a subdomain of a wildcard parent",
                            name=domain.name,
                        ),
                    )
                continue
            if strict and (not root.provider or root.verification_status != "verified"):
                raise EmbouxConflictError(
                    "name",
                    self.env._(
                        "The parent %(parent)s of '%(name)s' is not verified at a provider",
                        parent=root.name,
                        name=domain.name,
                    ),
                )
            plans.append((domain, domain._provider_subdomain_plan()))
        self._provider_run(plans)

    def _provider_ensure_smtp_credential(self):
        """The per-domain SMTP credential (Mailgun), created only when
        missing; skipped for providers with one credential for the account
        (SES) and for domains without provider."""
        self._provider_run([(domain, domain._provider_credential_plan()) for domain in self])

    def _provider_refresh(self, providers=None):
        """Ask the providers for the state of these domains' own identities
        (a linked subdomain's is its root's), per provider in as few calls as
        it allows; a domain whose identity was never created, or vanished,
        starts its verification again. Every call is made before the answers
        are written. Answers the domains that became verified (they are
        notified). ``providers``: ``{code: provider}`` instances to use
        instead of new ones (a client of the caller's)."""
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
        for domain in roots - to_start:
            by_code[domain.provider] |= domain
        # the calls
        answers = []
        for code, domains in by_code.items():
            provider = (providers or {}).get(code) or get_provider(code)
            try:
                answers.append((code, domains, provider.get_statuses(domains.mapped("name")), None))
            except ProviderError as exc:
                answers.append((code, domains, None, exc))
        feedback = []
        for _code, domains, statuses, error in answers:
            for domain in domains if not error else ():
                status = statuses[domain.name]
                if status.error:
                    continue
                if not status.exists:
                    to_start |= domain
                    continue
                # the feedback topic when missing (a failure at creation)
                plan = domain._provider_feedback_plan()
                if plan and plan.get("topic"):
                    feedback.append((domain, plan))
        unreachable = {}
        later = [
            (domain, plan, run_provider_calls(plan, unreachable, providers))
            for domain, plan in feedback + [(d, d._provider_own_plan()) for d in to_start]
        ]
        # the answers
        for code, domains, statuses, error in answers:
            if error:
                domains._provider_failed(error, pending=False)
                continue
            by_status = defaultdict(lambda: self.browse())
            for domain in domains - to_start:
                status = statuses[domain.name]
                if status.error:
                    domain._provider_failed(status.error, pending=False)
                    continue
                domain._provider_store(status, code=code)
                by_status[(status.verification, status.dkim)] |= domain
            for (verification, dkim), group in by_status.items():
                group._set_verification(verification, dkim)  # one write per state
        announce = []
        for domain, plan, out in later:
            domain._provider_apply(plan, out, announce)
        announce_missing_topic(announce)
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
    # business methods: the one code path of forms, portal and API
    # ------------------------------------------------------------------
    def _check_owner_action(self):
        """A customer acts on its own domains only (record rules; another
        tenant's is not found)."""
        self.check_access("write")

    def action_provider_verify(self):
        """``POST /domains/{name}/verify`` (also self-service): start
        the verification at the provider now (a linked subdomain is
        registered with its parent's identity instead; a domain moving to
        another provider starts there too). A domain without provider gets
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
                            "'%(name)s' sends with its parent %(parent)s, which has "
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
                            "'%(name)s' has no mail provider and none is set in Settings",
                            name=domain.name,
                        ),
                    )
                domain.provider = default
            domain._provider_start_verification()
            if domain.provider_next:
                domain._provider_move_start()
        return True

    def action_provider_refresh(self):
        """``GET /domains/{name}/verify-status``: refresh from the provider
        (it writes the answer: the master's or the owner's to ask), and
        the new provider of a domain moving to one."""
        self._check_owner_action()
        self.sudo()._provider_refresh()
        self.sudo().filtered("provider_next")._provider_refresh_moves()
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
        see :func:`records_to_publish`. While the domain moves to another
        provider, that one's records (and SPF include) come too: they must
        be published for it to verify the domain."""
        self.ensure_one()
        self.check_access("read")
        domain = self.sudo()
        code = domain._effective_provider_code()
        stored = domain.provider_record_ids.sorted("sequence")
        records = stored.filtered(lambda r: r.provider == code)._as_dict()
        next_code = domain.provider_next if not domain.parent_id else False
        if next_code:
            records += stored.filtered(lambda r: r.provider == next_code)._as_dict()
        return records_to_publish(
            domain.name, get_provider(code), records, next_provider=get_provider(next_code)
        )

    def _dns_check(self, resolver=None):
        """``GET /domains/{name}/dns-check``: ``{"domain", "checks":
        [{"type", "name", "expected", "found", "ok"}], "all_ok"}``: the
        records this domain should publish (``_dns_records_to_publish()``,
        which checks that the caller may read the domain), looked up in the
        DNS by ``resolver`` (a dnspython resolver; default: the configured
        one) and compared by ``dns_check``'s rules."""
        self.ensure_one()
        checks = dns_check.check_records(self._dns_records_to_publish(), resolver)
        return {
            "domain": self.name,
            "checks": checks,
            "all_ok": bool(checks) and all(check["ok"] for check in checks),
        }

    @api.model
    def _provider_verify_remote(self, name, provider_code=None):
        """The master verifies a root domain that is not hosted here:
        start its verification at ``provider_code`` (default: the
        Settings one) and answer ``(status dict, records)``. Staff/master
        only; nothing is stored."""
        if self.env["emboux.tenant"]._is_tenant_caller():
            raise EmbouxInputError("name", self.env._("Unknown domain"))
        name = normalize_domain(name, field="name")
        code = provider_code or self._default_provider()
        provider = get_provider(code)
        if not provider:
            raise EmbouxInputError("provider", self.env._("No mail provider is set in Settings"))
        topic = sns.notification_topic()
        plan = {"kind": "own", "code": code, "name": name}
        if topic and provider.notification_topics:
            plan["topic"] = topic  # its feedback too, though nothing is stored for it here
        out = run_provider_calls(plan, {})
        error = out.get("error") or out.get("topic_error")
        if error:
            _logger.warning("Provider call failed for %s: %s", name, error)
        status = out.get("status")
        return (
            {
                "domain": name,
                "status": status.verification if status else "pending",
                "dkim_status": status.dkim if status else "pending",
                "provider": code,
                "verified_at": None,
                "inherited_from": None,
                "provider_error": str(error)[:PROVIDER_ERROR_MAX] if error else None,
            },
            records_to_publish(name, provider, (status.records or []) if status else []),
        )

    # ------------------------------------------------------------------
    # the staff form's buttons: the shared methods plus a notification
    # ------------------------------------------------------------------
    def _provider_notification(self, title):
        self.ensure_one()
        status = self._provider_status()
        if status["provider_error"]:
            return self._button_notification(
                title,
                self.env._("The provider failed: %(error)s", error=status["provider_error"]),
                kind="warning",
            )
        labels = dict(self._fields["verification_status"]._description_selection(self.env))
        providers = dict(self._fields["provider"]._description_selection(self.env))
        return self._button_notification(
            title,
            self.env._(
                "%(provider)s: verification %(status)s, DKIM %(dkim)s.",
                provider=providers.get(status["provider"], "-"),
                status=labels.get(status["status"], status["status"]),
                dkim=labels.get(status["dkim_status"], status["dkim_status"]),
            ),
        )

    def button_provider_verify(self):
        self.ensure_one()
        self.action_provider_verify()
        return self._provider_notification(self.env._("Verification started"))

    def button_provider_refresh(self):
        self.ensure_one()
        self.action_provider_refresh()
        return self._provider_notification(self.env._("Status refreshed"))

    def button_provider_register_subdomain(self):
        self.ensure_one()
        self.action_provider_register_subdomain()
        return self._provider_notification(self.env._("Registered with the parent's identity"))
