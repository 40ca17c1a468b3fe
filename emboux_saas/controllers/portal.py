"""The customer portal of the mail hosting suite (/my/...).

Every page and every write runs as the logged-in portal user: the record
rules of emboux_saas confine it to its tenant. A record is looked up with
``_document_check_access`` first (the sudo record it returns is only used to
know that the record exists); another tenant's id, or one that does not
exist, answers 404. Writes are POST forms carrying the CSRF token, and they
call the same model methods as the backend and the REST API. A refused write
(bad input, conflict, quota, access) re-renders the page with the message and
what was typed, passwords excepted, inside a savepoint so nothing is half
done.
"""

from functools import partial
import logging

from werkzeug.exceptions import NotFound

from odoo import http
from odoo.exceptions import AccessError, MissingError, UserError, ValidationError
from odoo.http import request
from odoo.tools.translate import LazyTranslate

from odoo.addons.emboux_core.exceptions import EmbouxInputError
from odoo.addons.emboux_core.tools import check_non_negative_int, normalize_domain
from odoo.addons.portal.controllers.portal import CustomerPortal, pager as portal_pager

from ..dns_records import dns_records

_logger = logging.getLogger(__name__)
_lt = LazyTranslate(__name__)

# Messages after a successful write (redirect ?msg=...): fixed texts only,
# nothing typed by anyone is reflected from the query string.
SUCCESS_MESSAGES = {
    "mailbox_created": _lt("The mailbox was created."),
    "password_changed": _lt("The password was changed."),
    "quota_changed": _lt("The storage quota was changed."),
    "catch_all_changed": _lt("The catch-all setting was changed."),
    "alias_added": _lt("The alias was added."),
    "alias_exists": _lt("This alias already existed; nothing was changed."),
    "alias_removed": _lt("The alias was removed."),
    "key_revoked": _lt("The API key was revoked."),
    "domain_created": _lt(
        "The domain was added. Publish the DNS records below at your DNS host so that "
        "mail for it reaches us."
    ),
    "domain_deleted": _lt("The domain was deleted with its mailboxes and aliases."),
    "domain_suspended": _lt(
        "The domain was suspended: mail for it is deferred and its mailboxes cannot log "
        "in. Everything is kept until you activate it again."
    ),
    "domain_activated": _lt("The domain was activated."),
    "mailbox_deactivated": _lt("The mailbox was deactivated."),
    "mailbox_activated": _lt("The mailbox was activated."),
}

# the field of a refusal (EmbouxInputError, EmbouxConflictError, EmbouxQuotaError)
# -> the form input it marks
FORM_FIELDS = {
    "email": "local_part",
    "password": "password",
    "quota_mb": "quota_mb",
    "name": "name",
    "source": "source_local",
    "destination": "destination",
    "expires_at": "expires_at",
    "max_mailboxes_per_domain": "local_part",
    "max_aliases_per_mailbox": "source_local",
    "max_domains": "name",
}


class EmbouxCustomerPortal(CustomerPortal):
    # ------------------------------------------------------------------
    # home and layout
    # ------------------------------------------------------------------
    def _prepare_home_portal_values(self, counters):
        values = super()._prepare_home_portal_values(counters)
        env = request.env
        for counter, model in (
            ("emboux_domain_count", "emboux.domain"),
            ("emboux_mailbox_count", "emboux.mailbox"),
            ("emboux_alias_count", "emboux.alias"),
            ("emboux_api_key_count", "emboux.api.key"),
        ):
            if counter in counters:
                # as the lists: deactivated mailboxes and revoked keys count
                Model = env[model].with_context(active_test=False)
                values[counter] = Model.search_count([]) if Model.has_access("read") else 0
        return values

    def _prepare_portal_layout_values(self):
        values = super()._prepare_portal_layout_values()
        values["emboux_tenant"] = request.env["emboux.tenant"]._current_tenant()
        return values

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    def _emboux_get(self, model, record_id):
        """The record ``record_id`` in the portal user's environment, after
        ``_document_check_access``; 404 when it does not exist or belongs
        to someone else."""
        try:
            self._document_check_access(model, record_id)
        except (AccessError, MissingError):
            raise NotFound() from None
        return request.env[model].browse(record_id)

    def _emboux_message(self, kw):
        return str(SUCCESS_MESSAGES[kw["msg"]]) if kw.get("msg") in SUCCESS_MESSAGES else None

    def _emboux_error(self, exc):
        """``(message, form input)`` of a refused write."""
        field = getattr(exc, "field", None)
        return str(exc.args[0]) if exc.args else str(exc), FORM_FIELDS.get(field, field)

    def _emboux_write(self, func):
        """Run ``func()`` in a savepoint: ``(result, None, None)`` or, when
        the model refuses, ``(None, message, form input)``; nothing of a
        refused write stays."""
        try:
            with request.env.cr.savepoint():
                return func(), None, None
        except (UserError, ValidationError, AccessError) as exc:
            message, field = self._emboux_error(exc)
            _logger.info("portal: refused for user %s: %s", request.env.uid, message)
            return None, message, field

    @staticmethod
    def _emboux_int(value, field):
        value = (value or "").strip()
        try:
            number = int(value)
        except ValueError:
            number = value or None
        return check_non_negative_int(number, field)

    def _emboux_list_values(self, records, url, page, page_name, key):
        """Layout values of a paged list of ``records`` (a recordset the
        record rules already confine to the tenant)."""
        values = self._prepare_portal_layout_values()
        pager = portal_pager(
            url=url, total=records.search_count([]), page=page, step=self._items_per_page
        )
        values.update(
            {
                "page_name": page_name,
                "pager": pager,
                key: records.search([], limit=self._items_per_page, offset=pager["offset"]),
            }
        )
        return values

    def _emboux_render(self, template, values, status=200):
        response = request.render(template, values)
        response.status_code = status
        return response

    def _emboux_post(self, func, done, refused):
        """A form's write: ``func()`` in a savepoint (``_emboux_write``).
        Done: a redirect to ``done`` (a URL), or ``done(result)`` (a
        function of what ``func`` returned, giving the response). Refused:
        ``refused(error=message, error_field=form input)``, the form's page
        again with the message."""
        result, error, field = self._emboux_write(func)
        if error:
            return refused(error=error, error_field=field)
        return done(result) if callable(done) else request.redirect(done)

    # the pages (by default as a refused form shows them again, with the
    # message: HTTP 422)
    def _emboux_domains_page(self, status=422, **extra):
        values = self._emboux_domains_values(**extra)
        return self._emboux_render("emboux_saas.portal_my_emboux_domains", values, status)

    def _emboux_domain_page(self, domain, status=422, **extra):
        values = self._emboux_domain_values(domain, **extra)
        return self._emboux_render("emboux_saas.portal_my_emboux_domain", values, status)

    def _emboux_mailbox_page(self, mailbox, status=422, **extra):
        values = self._emboux_mailbox_values(mailbox, **extra)
        return self._emboux_render("emboux_saas.portal_my_emboux_mailbox", values, status)

    def _emboux_keys_page(self, status=422, **extra):
        values = self._emboux_keys_values(**extra)
        return self._emboux_render("emboux_saas.portal_my_emboux_api_keys", values, status)

    # ------------------------------------------------------------------
    # domains
    # ------------------------------------------------------------------
    @http.route(
        ["/my/domains", "/my/domains/page/<int:page>"], type="http", auth="user", website=True
    )
    def portal_my_emboux_domains(self, page=1, **kw):
        return self._emboux_domains_page(200, page=page, message=self._emboux_message(kw))

    def _emboux_domains_values(self, page=1, **extra):
        values = self._emboux_list_values(
            request.env["emboux.domain"], "/my/domains", page, "emboux_domains", "domains"
        )
        values.update(
            default_url="/my/domains",
            message=None,
            error=None,
            error_field=None,
            form={},
        )
        values.update(extra)
        return values

    @http.route(["/my/domains/new"], type="http", auth="user", website=True, methods=["POST"])
    def portal_emboux_domain_create(self, **post):
        name = (post.get("name") or "").strip()
        # as POST /domains/ for a customer: the model makes the caller's
        # tenant the owner, checks max_domains and links a wildcard parent
        return self._emboux_post(
            lambda: request.env["emboux.domain"].create({"name": name}),
            lambda domain: request.redirect(f"/my/domains/{domain.id}?msg=domain_created"),
            partial(self._emboux_domains_page, form={"name": name}),
        )

    def _emboux_domain_post(self, domain_id, func, msg, redirect=None, **extra):
        """Run ``func(domain)`` for one of the user's domains; on refusal
        the domain page with the message (``extra``: its form values)."""
        domain = self._emboux_get("emboux.domain", domain_id)
        return self._emboux_post(
            lambda: func(domain),
            f"{redirect or f'/my/domains/{domain.id}'}?msg={msg}",
            partial(self._emboux_domain_page, domain, **extra),
        )

    @http.route(
        ["/my/domains/<int:domain_id>/delete"],
        type="http",
        auth="user",
        website=True,
        methods=["POST"],
    )
    def portal_emboux_domain_delete(self, domain_id, **post):
        domain = self._emboux_get("emboux.domain", domain_id)
        try:
            typed = normalize_domain(post.get("confirm_name") or "", field="confirm_name")
        except EmbouxInputError:
            typed = None
        if typed != domain.name:
            # the confirmation of the page, not a rule of the model
            return self._emboux_domain_page(
                domain,
                error=request.env._(
                    "Type the domain name %(name)s to confirm the deletion",
                    name=domain.name,
                ),
                error_field="confirm_name",
            )
        # as DELETE /domains/{name}: with its mailboxes and aliases
        return self._emboux_domain_post(
            domain_id, lambda d: d.unlink(), "domain_deleted", redirect="/my/domains"
        )

    @http.route(
        ["/my/domains/<int:domain_id>/suspend"],
        type="http",
        auth="user",
        website=True,
        methods=["POST"],
    )
    def portal_emboux_domain_suspend(self, domain_id, **post):
        return self._emboux_domain_post(domain_id, lambda d: d.action_suspend(), "domain_suspended")

    @http.route(
        ["/my/domains/<int:domain_id>/activate"],
        type="http",
        auth="user",
        website=True,
        methods=["POST"],
    )
    def portal_emboux_domain_activate(self, domain_id, **post):
        # the model refuses a domain that staff suspended (AccessError)
        return self._emboux_domain_post(
            domain_id, lambda d: d.action_activate(), "domain_activated"
        )

    def _emboux_domain_values(self, domain, **extra):
        tenant = domain.tenant_id
        # deactivated mailboxes too: the page is where they are found again
        mailboxes = (
            request.env["emboux.mailbox"]
            .with_context(active_test=False)
            .search([("domain_id", "=", domain.id)])
        )
        values = self._prepare_portal_layout_values()
        values.update(
            page_name="emboux_domain",
            domain=domain,
            tenant=tenant,
            mailboxes=mailboxes,
            aliases=request.env["emboux.alias"].search([("domain_id", "=", domain.id)]),
            mailbox_total=request.env["emboux.mailbox"]
            .with_context(active_test=False)
            .search_count([("domain_id", "=", domain.id)]),
            alias_usage=self._emboux_alias_usage(tenant, mailboxes.mapped("email")),
            dns_records=dns_records(domain.name),
            message=None,
            error=None,
            error_field=None,
            form={},
            form_name=None,
        )
        values.update(extra)
        return values

    def _emboux_alias_usage(self, tenant, emails):
        """``{destination: alias rows delivering to it}`` over the tenant's
        domains, as ``max_aliases_per_mailbox`` counts them."""
        if not emails or not tenant:
            return {}
        groups = request.env["emboux.alias"]._read_group(
            [("destination", "in", list(emails)), ("domain_id.tenant_id", "=", tenant.id)],
            ["destination"],
            ["__count"],
        )
        return dict(groups)

    @http.route(["/my/domains/<int:domain_id>"], type="http", auth="user", website=True)
    def portal_my_emboux_domain(self, domain_id, **kw):
        domain = self._emboux_get("emboux.domain", domain_id)
        return self._emboux_domain_page(domain, 200, message=self._emboux_message(kw))

    @http.route(
        ["/my/domains/<int:domain_id>/mailboxes"],
        type="http",
        auth="user",
        website=True,
        methods=["POST"],
    )
    def portal_emboux_mailbox_create(self, domain_id, **post):
        domain = self._emboux_get("emboux.domain", domain_id)
        local_part = (post.get("local_part") or "").strip()

        def create():
            if not local_part:
                raise EmbouxInputError("email", request.env._("An address is required"))
            return request.env["emboux.mailbox"].create(
                {
                    "email": f"{local_part}@{domain.name}",
                    "name": (post.get("name") or "").strip() or False,
                    "password": post.get("password") or "",
                    "quota_mb": self._emboux_int(post.get("quota_mb"), "quota_mb"),
                    "catch_all": bool(post.get("catch_all")),
                }
            )

        form = {k: post.get(k) for k in ("local_part", "name", "quota_mb", "catch_all")}
        return self._emboux_post(
            create,
            f"/my/domains/{domain.id}?msg=mailbox_created",
            partial(self._emboux_domain_page, domain, form=form, form_name="mailbox_create"),
        )

    @http.route(
        ["/my/domains/<int:domain_id>/aliases"],
        type="http",
        auth="user",
        website=True,
        methods=["POST"],
    )
    def portal_emboux_domain_alias_add(self, domain_id, **post):
        domain = self._emboux_get("emboux.domain", domain_id)
        source_local = (post.get("source_local") or "").strip()
        destination = (post.get("destination") or "").strip()

        def done(result):
            # upsert: (the alias, whether it made it)
            msg = "alias_added" if result[1] else "alias_exists"
            return request.redirect(f"/my/domains/{domain.id}?msg={msg}")

        return self._emboux_post(
            lambda: request.env["emboux.alias"].upsert(
                f"{source_local}@{domain.name}", destination
            ),
            done,
            partial(
                self._emboux_domain_page,
                domain,
                form={"source_local": source_local, "destination": destination},
                form_name="alias_add",
            ),
        )

    # ------------------------------------------------------------------
    # mailboxes
    # ------------------------------------------------------------------
    @http.route(
        ["/my/mailboxes", "/my/mailboxes/page/<int:page>"], type="http", auth="user", website=True
    )
    def portal_my_emboux_mailboxes(self, page=1, **kw):
        # deactivated mailboxes too (as the domain page): the customer turns them back on here
        mailboxes = request.env["emboux.mailbox"].with_context(active_test=False)
        values = self._emboux_list_values(
            mailboxes, "/my/mailboxes", page, "emboux_mailboxes", "mailboxes"
        )
        return request.render("emboux_saas.portal_my_emboux_mailboxes", values)

    def _emboux_mailbox_values(self, mailbox, **extra):
        tenant = mailbox.domain_id.tenant_id
        values = self._prepare_portal_layout_values()
        values.update(
            page_name="emboux_mailbox",
            mailbox=mailbox,
            domain=mailbox.domain_id,
            tenant=tenant,
            aliases=request.env["emboux.alias"].search([("destination", "=", mailbox.email)]),
            alias_count=self._emboux_alias_usage(tenant, [mailbox.email]).get(mailbox.email, 0),
            tenant_domains=request.env["emboux.domain"].search([]),
            mail_fate=self._emboux_mail_fate(mailbox),
            message=None,
            error=None,
            error_field=None,
            form={},
            form_name=None,
        )
        values.update(extra)
        return values

    def _emboux_mail_fate(self, mailbox):
        """What becomes of mail to ``mailbox`` while it is deactivated (the
        mail host's views: an inactive mailbox has no identity row, so the
        domain's catch-all takes its mail, else Postfix refuses it at RCPT
        with 550 5.1.1): ``{"catch_all": [other catch-all destinations],
        "is_catch_all": whether it is a catch-all destination itself}``."""
        catch_alls = request.env["emboux.alias"].search(
            [("domain_id", "=", mailbox.domain_id.id), ("catch_all", "=", True)]
        )
        destinations = catch_alls.mapped("destination")
        return {
            "catch_all": [d for d in destinations if d != mailbox.email],
            "is_catch_all": mailbox.email in destinations,
        }

    @http.route(["/my/mailboxes/<int:mailbox_id>"], type="http", auth="user", website=True)
    def portal_my_emboux_mailbox(self, mailbox_id, **kw):
        mailbox = self._emboux_get("emboux.mailbox", mailbox_id)
        return self._emboux_mailbox_page(mailbox, 200, message=self._emboux_message(kw))

    def _emboux_mailbox_post(self, mailbox_id, form_name, func, msg, form=None):
        mailbox = self._emboux_get("emboux.mailbox", mailbox_id)
        return self._emboux_post(
            lambda: func(mailbox),
            f"/my/mailboxes/{mailbox.id}?msg={msg}",
            partial(self._emboux_mailbox_page, mailbox, form=form or {}, form_name=form_name),
        )

    @http.route(
        ["/my/mailboxes/<int:mailbox_id>/password"],
        type="http",
        auth="user",
        website=True,
        methods=["POST"],
    )
    def portal_emboux_mailbox_password(self, mailbox_id, **post):
        password = post.get("password") or ""
        if password != (post.get("password_confirm") or ""):
            return self._emboux_mailbox_page(
                self._emboux_get("emboux.mailbox", mailbox_id),
                error=request.env._("The two passwords differ"),
                error_field="password",
                form_name="password",
            )
        return self._emboux_mailbox_post(
            mailbox_id, "password", lambda m: m.set_password(password), "password_changed"
        )

    @http.route(
        ["/my/mailboxes/<int:mailbox_id>/quota"],
        type="http",
        auth="user",
        website=True,
        methods=["POST"],
    )
    def portal_emboux_mailbox_quota(self, mailbox_id, **post):
        return self._emboux_mailbox_post(
            mailbox_id,
            "quota",
            lambda m: m.set_quota(self._emboux_int(post.get("quota_mb"), "quota_mb")),
            "quota_changed",
            form={"quota_mb": post.get("quota_mb")},
        )

    @http.route(
        ["/my/mailboxes/<int:mailbox_id>/catch-all"],
        type="http",
        auth="user",
        website=True,
        methods=["POST"],
    )
    def portal_emboux_mailbox_catch_all(self, mailbox_id, **post):
        return self._emboux_mailbox_post(
            mailbox_id,
            None,
            lambda m: m.write({"catch_all": bool(post.get("catch_all"))}),
            "catch_all_changed",
        )

    @http.route(
        ["/my/mailboxes/<int:mailbox_id>/active"],
        type="http",
        auth="user",
        website=True,
        methods=["POST"],
    )
    def portal_emboux_mailbox_active(self, mailbox_id, **post):
        # as PUT /users/{email} {"active": ...}
        active = bool(post.get("active"))
        return self._emboux_mailbox_post(
            mailbox_id,
            None,
            lambda m: m.write({"active": active}),
            "mailbox_activated" if active else "mailbox_deactivated",
        )

    @http.route(
        ["/my/mailboxes/<int:mailbox_id>/aliases"],
        type="http",
        auth="user",
        website=True,
        methods=["POST"],
    )
    def portal_emboux_mailbox_alias_add(self, mailbox_id, **post):
        source_local = (post.get("source_local") or "").strip()
        form = {"source_local": source_local, "source_domain_id": post.get("source_domain_id")}
        try:
            source_domain_id = int(post.get("source_domain_id") or 0)
        except ValueError:
            source_domain_id = 0
        mailbox = self._emboux_get("emboux.mailbox", mailbox_id)
        source_domain = (
            self._emboux_get("emboux.domain", source_domain_id)
            if source_domain_id
            else mailbox.domain_id
        )
        return self._emboux_mailbox_post(
            mailbox_id,
            "alias_add",
            lambda m: request.env["emboux.alias"].upsert(
                f"{source_local}@{source_domain.name}", m.email
            ),
            "alias_added",
            form=form,
        )

    # ------------------------------------------------------------------
    # aliases
    # ------------------------------------------------------------------
    @http.route(
        ["/my/aliases", "/my/aliases/page/<int:page>"], type="http", auth="user", website=True
    )
    def portal_my_emboux_aliases(self, page=1, **kw):
        values = self._emboux_list_values(
            request.env["emboux.alias"], "/my/aliases", page, "emboux_aliases", "aliases"
        )
        return request.render("emboux_saas.portal_my_emboux_aliases", values)

    @http.route(
        ["/my/aliases/<int:alias_id>/delete"],
        type="http",
        auth="user",
        website=True,
        methods=["POST"],
    )
    def portal_emboux_alias_delete(self, alias_id, mailbox_id=None, **post):
        alias = self._emboux_get("emboux.alias", alias_id)
        back = f"/my/domains/{alias.domain_id.id}"
        if mailbox_id and str(mailbox_id).isdigit():
            back = f"/my/mailboxes/{self._emboux_get('emboux.mailbox', int(mailbox_id)).id}"
        return self._emboux_post(
            alias.unlink,
            f"{back}?msg=alias_removed",
            # nothing a customer can type makes this fail; say it on the domain page
            lambda error, error_field: self._emboux_domain_page(alias.domain_id, error=error),
        )

    # ------------------------------------------------------------------
    # API keys
    # ------------------------------------------------------------------
    def _emboux_keys_values(self, page=1, **extra):
        values = self._emboux_list_values(
            request.env["emboux.api.key"].with_context(active_test=False),
            "/my/api-keys",
            page,
            "emboux_api_keys",
            "keys",
        )
        values.update(
            new_key=None,
            new_token=None,
            message=None,
            error=None,
            error_field=None,
            form={},
        )
        values.update(extra)
        return values

    @http.route(
        ["/my/api-keys", "/my/api-keys/page/<int:page>"],
        type="http",
        auth="user",
        website=True,
        methods=["GET"],
    )
    def portal_my_emboux_api_keys(self, page=1, **kw):
        return self._emboux_keys_page(200, page=page, message=self._emboux_message(kw))

    @http.route(["/my/api-keys/new"], type="http", auth="user", website=True, methods=["POST"])
    def portal_emboux_api_key_create(self, **post):
        name = (post.get("name") or "").strip()
        expires_at = (post.get("expires_at") or "").strip() or None
        tenant = request.env["emboux.tenant"]._current_tenant()

        def generate():
            # the model decides: a customer makes keys of its own tenant only
            return request.env["emboux.api.key"].generate(tenant, name, expires_at=expires_at)

        def show_token(result):
            key, token = result
            # the token is in this response only: never in a URL, a session or a log
            response = self._emboux_keys_page(200, new_key=key, new_token=token)
            response.headers["Cache-Control"] = "no-store"
            return response

        return self._emboux_post(
            generate,
            show_token,
            partial(self._emboux_keys_page, form={"name": name, "expires_at": expires_at or ""}),
        )

    @http.route(
        ["/my/api-keys/<int:key_id>/revoke"],
        type="http",
        auth="user",
        website=True,
        methods=["POST"],
    )
    def portal_emboux_api_key_revoke(self, key_id, **post):
        key = self._emboux_get("emboux.api.key", key_id)
        return self._emboux_post(
            key.action_revoke, "/my/api-keys?msg=key_revoked", self._emboux_keys_page
        )
