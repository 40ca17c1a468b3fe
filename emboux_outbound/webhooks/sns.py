"""Amazon SNS envelopes carrying SES notifications.

- :func:`parse_envelope`: the JSON body (sent as ``text/plain``) and its
  required fields;
- :func:`configured_topics`: the topics the configuration trusts
  (``emboux_ses_sns_topic_arns``), :func:`notification_topic`: the one the
  suite points new SES identities at; the caller refuses any other topic
  before the calls below reach the network;
- :func:`verify_signature`: RSA PKCS#1 v1.5 over the canonical string to
  sign, SHA1 (``SignatureVersion`` 1) or SHA256 (2), with the certificate at
  ``SigningCertURL`` (checked first: https, ``.pem``, an SNS host), fetched
  once per URL and cached by a :class:`CertificateStore` whose fetcher can be
  replaced (tests bring their own key);
- :func:`confirm_subscription`: a GET of ``SubscribeURL`` (same host check);
- :func:`parse_ses_message`: the SES notification in ``Message``.

``allowed_hosts`` are extra ``host[:port]`` accepted besides the SNS hosts,
over http too: for a local SNS (tests, a moto server), never in production.
"""

import base64
import binascii
from collections import OrderedDict
from datetime import UTC, datetime
import re
import threading
import time
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
import requests

from odoo.addons.emboux_core.exceptions import EmbouxInputError
from odoo.addons.emboux_core.tools import get_config

from . import (
    DEFAULT_MAX_AGE,
    MAX_CLOCK_SKEW,
    BounceEvent,
    WebhookSignatureError,
    WebhookUpstreamError,
    address_of,
    config_list,
    domain_of,
    get_path,
    load_json_object,
)

SNS_HOST_RE = re.compile(r"^sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?$")
TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
# the keys of the string to sign, in order; a key is used when present
SIGNED_KEYS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
SIGNED_KEYS["UnsubscribeConfirmation"] = SIGNED_KEYS["SubscriptionConfirmation"]
REQUIRED_KEYS = (
    "Type",
    "MessageId",
    "TopicArn",
    "Message",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
)
HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
SES_VALIDATION_TEXT = "Successfully validated SNS topic"
HTTP_TIMEOUT = 10
CERTIFICATE_MAX_BYTES = 64 * 1024
MESSAGE_ID_MAX_LENGTH = 256  # SNS's are UUIDs; the de-duplication key
# a topic name has at most 256 characters; with partition, region and
# account an ARN stays far below this (and is logged when refused)
TOPIC_ARN_MAX_LENGTH = 512


def parse_envelope(body):
    """The SNS envelope of ``body`` (bytes or text): a JSON object with the
    fields its ``Type`` needs, all strings. ``EmbouxInputError`` naming the
    field otherwise."""
    envelope = load_json_object(body)
    kind = envelope.get("Type")
    if kind not in TYPES:
        raise EmbouxInputError("Type", f"Must be one of {', '.join(TYPES)}")
    required = REQUIRED_KEYS
    if kind != "Notification":
        required = (*required, "SubscribeURL", "Token")
    for key in required:
        value = envelope.get(key)
        if not isinstance(value, str) or (not value and key != "Message"):
            raise EmbouxInputError(key, "Missing or not a string")
    if len(envelope["MessageId"]) > MESSAGE_ID_MAX_LENGTH:
        raise EmbouxInputError("MessageId", "Too long")
    if len(envelope["TopicArn"]) > TOPIC_ARN_MAX_LENGTH:
        raise EmbouxInputError("TopicArn", "Too long")
    if "Subject" in envelope and not isinstance(envelope["Subject"], str | type(None)):
        raise EmbouxInputError("Subject", "Not a string")
    return envelope


def configured_topics():
    """The topic ARNs of ``emboux_ses_sns_topic_arns`` (env
    ``EMBOUX_SES_SNS_TOPIC_ARNS`` wins), comma- or space-separated; the
    former ``emboux_ses_topic_arns`` still counts, so an upgraded
    installation keeps the topics it listed."""
    return config_list("emboux_ses_sns_topic_arns") or config_list("emboux_ses_topic_arns")


def notification_topic():
    """The SNS topic ARN the suite points the bounce and complaint
    notifications of the SES identities it creates at
    (``emboux_ses_notification_topic_arn``, env
    ``EMBOUX_SES_NOTIFICATION_TOPIC_ARN`` wins); None when unset."""
    value = str(get_config("emboux_ses_notification_topic_arn") or "").strip()
    return value or None


def parse_timestamp(value, field="Timestamp"):
    """An ISO 8601 time (``2012-04-26T20:45:04.751Z``) as epoch seconds."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise EmbouxInputError(field, "Not an ISO 8601 time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def string_to_sign(envelope):
    """``Key\\nValue\\n`` for each signed key present, in SNS's order."""
    lines = []
    for key in SIGNED_KEYS[envelope["Type"]]:
        value = envelope.get(key)
        if value is None:  # Subject is signed only when present
            continue
        lines.append(f"{key}\n{value}\n")
    return "".join(lines).encode("utf-8")


def check_url(url, field, allowed_hosts=(), suffix=None):
    """Refuse a provider URL we would call unless it is https on an SNS
    host (or on one of ``allowed_hosts``, http allowed) and, with
    ``suffix``, its path ends so."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
        netloc = f"{host}:{port}" if port else host
    except ValueError as exc:
        raise WebhookSignatureError(field, "not a valid URL") from exc
    extra = {item.lower() for item in allowed_hosts}
    if parts.username or parts.password:
        raise WebhookSignatureError(field, "must not carry credentials")
    if host in extra or netloc in extra:
        if parts.scheme not in ("https", "http"):
            raise WebhookSignatureError(field, "must be an http(s) URL")
    elif parts.scheme != "https" or not SNS_HOST_RE.match(host) or port not in (None, 443):
        raise WebhookSignatureError(field, "must be an https URL on an Amazon SNS host")
    if suffix and not parts.path.endswith(suffix):
        raise WebhookSignatureError(field, f"must end with {suffix}")
    return url


def fetch_url(url, field, max_bytes=None):
    """GET ``url`` (no redirects, short timeout): the body as bytes."""
    try:
        response = requests.get(url, timeout=HTTP_TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        raise WebhookUpstreamError(field, "could not be fetched") from exc
    if response.status_code != 200:
        raise WebhookUpstreamError(field, f"answered HTTP {response.status_code}")
    if max_bytes and len(response.content) > max_bytes:
        raise WebhookUpstreamError(field, "answer too large")
    return response.content


def fetch_certificate(url):
    """The default fetcher of :class:`CertificateStore`: PEM bytes."""
    return fetch_url(url, "SigningCertURL", max_bytes=CERTIFICATE_MAX_BYTES)


class CertificateStore:
    """Public keys of signing certificates by URL: fetched once with
    ``fetch(url) -> PEM bytes``, kept for the process (SNS rotates by
    publishing a new URL), the oldest dropped past ``max_entries``."""

    def __init__(self, fetch=None, max_entries=32):
        self._fetch = fetch or fetch_certificate
        self._max_entries = max_entries
        self._keys = OrderedDict()
        self._lock = threading.Lock()

    def public_key(self, url, now=None):
        with self._lock:
            entry = self._keys.get(url)
        if entry is None:
            entry = self._load(self._fetch(url))
            with self._lock:
                self._keys[url] = entry
                while len(self._keys) > self._max_entries:
                    self._keys.popitem(last=False)
        key, not_after = entry
        if (time.time() if now is None else now) > not_after:
            raise WebhookSignatureError("SigningCertURL", "the certificate has expired")
        return key

    @staticmethod
    def _load(pem):
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            raise WebhookSignatureError("SigningCertURL", "not a PEM certificate") from exc
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise WebhookSignatureError("SigningCertURL", "not an RSA certificate")
        return key, certificate.not_valid_after_utc.timestamp()

    def __len__(self):
        return len(self._keys)


DEFAULT_CERTIFICATES = CertificateStore()


def verify_signature(
    envelope, certificates=None, allowed_hosts=(), now=None, max_age=DEFAULT_MAX_AGE
):
    """Check the envelope's signature and age; raise
    :class:`WebhookSignatureError` naming the field otherwise."""
    if certificates is None:
        certificates = DEFAULT_CERTIFICATES
    algorithm = HASHES.get(envelope["SignatureVersion"])
    if algorithm is None:
        raise WebhookSignatureError("SignatureVersion", "must be 1 or 2")
    try:
        signature = base64.b64decode(envelope["Signature"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookSignatureError("Signature", "not base64") from exc
    url = check_url(envelope["SigningCertURL"], "SigningCertURL", allowed_hosts, suffix=".pem")
    key = certificates.public_key(url, now=now)
    try:
        key.verify(signature, string_to_sign(envelope), padding.PKCS1v15(), algorithm())
    except InvalidSignature as exc:
        raise WebhookSignatureError("Signature", "does not match") from exc
    sent = parse_timestamp(envelope["Timestamp"])
    now = time.time() if now is None else now
    if now - sent > max_age:
        raise WebhookSignatureError("Timestamp", "stale (older than the accepted age)")
    if sent - now > MAX_CLOCK_SKEW:
        raise WebhookSignatureError("Timestamp", "in the future")


def confirm_subscription(envelope, allowed_hosts=()):
    """Confirm a SubscriptionConfirmation by a GET of its SubscribeURL."""
    url = check_url(envelope["SubscribeURL"], "SubscribeURL", allowed_hosts)
    fetch_url(url, "SubscribeURL")


def _recipients(items, field):
    if not isinstance(items, list):
        raise EmbouxInputError(field, "Missing or not a list")
    recipients = []
    for index, item in enumerate(items):
        addr = address_of(item.get("emailAddress") if isinstance(item, dict) else None)
        if not addr:
            name = f"{field}[{index}].emailAddress"
            raise EmbouxInputError(name, "Missing or not an e-mail address")
        recipients.append(addr)
    return recipients


def parse_ses_message(message):
    """The :class:`BounceEvent` of an SES notification (``Message``): a
    Permanent bounce bounces each ``bouncedRecipients``, a complaint each
    ``complainedRecipients``; Transient/Undetermined bounces, deliveries and
    SES's "Successfully validated SNS topic" text are ignored. Event
    publishing says ``eventType`` where notifications say
    ``notificationType``."""
    if message.strip().startswith(SES_VALIDATION_TEXT):
        return BounceEvent(kind=None, event_type="validation")
    data = load_json_object(message, field="Message")
    kind = data.get("notificationType") or data.get("eventType")
    if not isinstance(kind, str) or not kind:
        raise EmbouxInputError("Message.notificationType", "Missing or not a string")
    domain_name = domain_of(get_path(data, "mail.source"))
    if kind == "Bounce":
        bounce = data.get("bounce")
        if not isinstance(bounce, dict):
            raise EmbouxInputError("Message.bounce", "Missing or not an object")
        bounce_type = bounce.get("bounceType")
        event_type = f"Bounce/{bounce_type}"
        if bounce_type != "Permanent":
            return BounceEvent(kind=None, event_type=event_type)
        recipients = _recipients(
            bounce.get("bouncedRecipients"), "Message.bounce.bouncedRecipients"
        )
        return BounceEvent("bounce", event_type, recipients, domain_name, _id(bounce))
    if kind == "Complaint":
        complaint = data.get("complaint")
        if not isinstance(complaint, dict):
            raise EmbouxInputError("Message.complaint", "Missing or not an object")
        recipients = _recipients(
            complaint.get("complainedRecipients"), "Message.complaint.complainedRecipients"
        )
        return BounceEvent("complaint", "Complaint", recipients, domain_name, _id(complaint))
    return BounceEvent(kind=None, event_type=kind[:64])


def _id(feedback):
    value = feedback.get("feedbackId")
    return value if isinstance(value, str) and value else None
