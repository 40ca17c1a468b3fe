"""Signature checks and parsers of the providers' bounce/complaint webhooks.

Pure functions, no database: :mod:`.mailgun` (HMAC-signed JSON) and
:mod:`.sns` (Amazon SNS envelopes carrying SES notifications). The model
``emboux.webhook.event`` (replay/de-duplication table) calls them and hands
what they find to ``emboux.suppression._process_bounce_or_complaint()``.

Malformed input raises ``EmbouxInputError`` naming the field; a request to
refuse for its signature (or its age, or a replay) raises
:class:`WebhookSignatureError`; the routes choose the HTTP status of each.
"""

from dataclasses import dataclass, field
from email.utils import parseaddr
import json
import logging
import re

from odoo.addons.emboux_core.exceptions import EmbouxInputError
from odoo.addons.emboux_core.tools import get_config

_logger = logging.getLogger(__name__)

# How old a signed request may be. Loose: Mailgun retries for about 8 hours
# and SNS keeps a message's Timestamp on its retries.
DEFAULT_MAX_AGE = 86400
# How far in the future a timestamp may be (the sender's clock is ahead).
MAX_CLOCK_SKEW = 900


class WebhookError(Exception):
    """A refused webhook request; ``field`` names the part at fault."""

    def __init__(self, field, message):
        super().__init__(f"{field}: {message}")
        self.field = field


class WebhookSignatureError(WebhookError):
    """Bad, stale or replayed signature, untrusted certificate or topic."""


class WebhookNotConfiguredError(WebhookError):
    """The webhook cannot accept anything yet: its signing key (Mailgun) or
    its trusted SNS topics (SES) are not configured."""


class WebhookUpstreamError(WebhookError):
    """A provider URL we must call (certificate, SubscribeURL) failed."""


@dataclass
class BounceEvent:
    """What a webhook delivery asks us to do. ``kind`` is ``"bounce"``,
    ``"complaint"`` or None (acknowledged and ignored)."""

    kind: str | None
    event_type: str
    recipients: list[str] = field(default_factory=list)
    domain_name: str | None = None
    event_id: str | None = None


def max_age():
    """Seconds a signed request stays acceptable (``emboux_webhook_max_age``,
    env ``EMBOUX_WEBHOOK_MAX_AGE`` wins; default one day)."""
    value = get_config("emboux_webhook_max_age", default=DEFAULT_MAX_AGE)
    try:
        return max(60, int(value))
    except (TypeError, ValueError):
        _logger.warning("emboux_webhook_max_age: %r is not a number of seconds", value)
        return DEFAULT_MAX_AGE


def config_list(option, env=None):
    """A comma- or space-separated option as a list of its non-empty items."""
    value = get_config(option, env=env) or ""
    return [item for item in re.split(r"[,\s]+", str(value)) if item]


def load_json_object(body, field="body"):
    """``body`` (bytes or text) as a JSON object (dict)."""
    if isinstance(body, bytes | bytearray):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EmbouxInputError(field, "Not UTF-8 text") from exc
    try:
        value = json.loads(body) if isinstance(body, str) else body
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise EmbouxInputError(field, "Not valid JSON") from exc
    if not isinstance(value, dict):
        raise EmbouxInputError(field, "Must be a JSON object")
    _refuse_nul(value, field)
    return value


def _refuse_nul(value, field):
    """No string of the body may hold a NUL character (``\\u0000``):
    PostgreSQL cannot store one. Walked without recursion (json.loads has
    already bounded the depth)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise EmbouxInputError(field, "A string holds a NUL character")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def get_path(data, path):
    """``data[a][b]...`` for the dotted ``path``, None where a part is missing."""
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def address_of(value):
    """The bare address of ``"Name <a@b>"`` or ``a@b``, else None."""
    if not isinstance(value, str):
        return None
    _name, addr = parseaddr(value)
    addr = addr.strip()
    return addr if "@" in addr else None


def domain_of(value):
    """The lower-case domain part of an address (or ``"Name <a@b>"``)."""
    addr = address_of(value)
    if not addr:
        return None
    return addr.rpartition("@")[2].strip().lower().rstrip(".") or None
