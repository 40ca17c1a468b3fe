"""Mailgun webhooks: HMAC signature and event parsing.

The body is JSON: ``signature`` {``timestamp``, ``token``, ``signature``}
and ``event-data``. The signature is the hex HMAC-SHA256 of ``timestamp +
token`` keyed with the HTTP webhook signing key (not the API key).
"""

import hashlib
import hmac
import time

from odoo.addons.emboux_core.exceptions import EmbouxInputError
from odoo.addons.emboux_core.tools import get_config

from . import (
    DEFAULT_MAX_AGE,
    MAX_CLOCK_SKEW,
    BounceEvent,
    WebhookSignatureError,
    address_of,
    domain_of,
    get_path,
)

SIGNATURE_FIELDS = ("timestamp", "token", "signature")
TOKEN_MAX_LENGTH = 256


def signing_key():
    """The HTTP webhook signing key: env ``MAILGUN_WEBHOOK_SIGNING_KEY``,
    else the odoo.conf option ``emboux_mailgun_webhook_signing_key``."""
    return get_config("emboux_mailgun_webhook_signing_key", env="MAILGUN_WEBHOOK_SIGNING_KEY")


def sign(key, timestamp, token):
    """The hex HMAC-SHA256 of ``timestamp + token`` keyed with ``key``."""
    message = f"{timestamp}{token}".encode()
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_parts(payload):
    """``payload["signature"]`` as ``{"timestamp", "token", "signature"}``
    (strings), unchecked; :class:`WebhookSignatureError` naming the field
    when it is malformed."""
    signature = payload.get("signature")
    if not isinstance(signature, dict):
        raise WebhookSignatureError("signature", "missing or not an object")
    parts = {}
    for name in SIGNATURE_FIELDS:
        value = signature.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and name == "timestamp":
            value = str(int(value))
        if not isinstance(value, str) or not value or len(value) > TOKEN_MAX_LENGTH:
            raise WebhookSignatureError(f"signature.{name}", "missing or not a string")
        parts[name] = value
    return parts


def verify_signature(payload, key, now=None, max_age=DEFAULT_MAX_AGE):
    """Check ``payload["signature"]`` against ``key``, then its age.
    Returns ``{"timestamp", "token", "signature"}`` (strings); raises
    :class:`WebhookSignatureError` naming the field otherwise."""
    parts = signature_parts(payload)
    expected = sign(key, parts["timestamp"], parts["token"])
    if not hmac.compare_digest(expected.encode(), parts["signature"].encode("utf-8")):
        raise WebhookSignatureError("signature.signature", "does not match")
    try:
        timestamp = float(parts["timestamp"])
    except ValueError as exc:
        raise WebhookSignatureError("signature.timestamp", "not a number") from exc
    now = time.time() if now is None else now
    if now - timestamp > max_age:
        raise WebhookSignatureError("signature.timestamp", "stale (older than the accepted age)")
    if timestamp - now > MAX_CLOCK_SKEW:
        raise WebhookSignatureError("signature.timestamp", "in the future")
    return parts


def parse_event(event_data):
    """The :class:`BounceEvent` of ``event-data``: ``failed`` with severity
    ``permanent`` is a bounce, ``complained`` a complaint; everything else
    (temporary failures, deliveries, opens...) is ignored. Unknown fields
    are tolerated."""
    if not isinstance(event_data, dict):
        raise EmbouxInputError("event-data", "Missing or not an object")
    event = event_data.get("event")
    if not isinstance(event, str) or not event:
        raise EmbouxInputError("event-data.event", "Missing or not a string")
    event = event.lower()
    severity = event_data.get("severity")
    severity = severity.lower() if isinstance(severity, str) else None
    event_type = f"{event}/{severity}" if severity else event
    if event == "failed" and severity == "permanent":
        kind = "bounce"
    elif event == "complained":
        kind = "complaint"
    else:
        return BounceEvent(kind=None, event_type=event_type)
    recipient = address_of(event_data.get("recipient"))
    if not recipient:
        raise EmbouxInputError("event-data.recipient", "Missing or not an e-mail address")
    domain_name = get_path(event_data, "domain.name")
    if isinstance(domain_name, str) and domain_name.strip():
        domain_name = domain_name.strip().lower().rstrip(".")
    else:
        domain_name = domain_of(get_path(event_data, "envelope.sender")) or domain_of(
            get_path(event_data, "message.headers.from")
        )
    event_id = event_data.get("id")
    return BounceEvent(
        kind=kind,
        event_type=event_type,
        recipients=[recipient],
        domain_name=domain_name,
        event_id=event_id if isinstance(event_id, str) and event_id else None,
    )
