"""``POST /emboux/policy``: the Postfix policy service's call.

A plain Odoo route rather than the REST API: one call per outbound message
(and per recipient), so it skips the ASGI bridge of the fastapi addon (about
three times the cost of a plain route on these machines, measured). The
rules are the REST API's: ``emboux.outbound.policy`` runs the same send
decision as ``POST /api/domains/{name}/outbound/increment``.

Body: Postfix's policy attributes as a JSON object. Answer: ``{"action":
"..."}``. The policy token is required (``Authorization: Bearer``): the
mail hosts hold that one only, and it opens this route and nothing else; the
master token is refused here (``emboux_policy_token`` / EMBOUX_POLICY_TOKEN).
"""

import json
import logging

from odoo import http
from odoo.http import request

from odoo.addons.emboux_core.tools import is_policy_token

_logger = logging.getLogger(__name__)


def _json(payload, status=200):
    return request.make_json_response(payload, status=status)


class EmbouxPolicyController(http.Controller):
    @http.route(
        "/emboux/policy",
        type="http",
        auth="none",
        methods=["POST"],
        csrf=False,
        save_session=False,
        readonly=False,  # it counts: auth="none" routes default to a read-only cursor
    )
    def emboux_policy(self, **_kwargs):
        header = request.httprequest.headers.get("Authorization") or ""
        scheme, _sep, token = header.partition(" ")
        if scheme.lower() != "bearer" or not is_policy_token(token.strip()):
            return _json({"error": "Not authenticated"}, status=401)
        if not request.db:
            return _json({"error": "No database selected (db_name / dbfilter)"}, status=503)
        try:
            attrs = json.loads(request.httprequest.get_data() or b"null")
        except (ValueError, RecursionError):
            return _json({"error": "body: a JSON object of policy attributes is required"}, 400)
        if not isinstance(attrs, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in attrs.items()
        ):
            return _json({"error": "body: a JSON object of string attributes is required"}, 400)
        action = request.env["emboux.outbound.policy"].sudo()._postfix_action(attrs)
        return _json({"action": action})
