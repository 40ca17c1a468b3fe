"""Real signatures for the webhook tests: Mailgun HMACs, an RSA key with a
self-signed certificate that signs SNS envelopes, SES notifications as SES
writes them, and a local HTTP server standing in for SNS (certificate and
SubscribeURL). Shared with emboux_api's tests."""

import base64
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import secrets
import threading
import time
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from ..webhooks import mailgun, sns

MAILGUN_KEY = "key-test-webhook-signing-0123456789"
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"
# anyone's topic: a valid SNS signature, but not ours
UNTRUSTED_TOPIC_ARN = "arn:aws:sns:eu-west-1:999999999999:someone-elses"
# the environment that trusts TOPIC_ARN (the tests' SES webhook is configured)
TRUSTED_TOPIC_ENV = {"EMBOUX_SES_SNS_TOPIC_ARNS": TOPIC_ARN}
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123abcd.pem"


# ----------------------------------------------------------------------
# Mailgun
# ----------------------------------------------------------------------
def mailgun_body(event_data, key=MAILGUN_KEY, timestamp=None, token=None, signature=None):
    """A JSON webhook body as Mailgun posts it, signed with ``key``."""
    timestamp = str(int(time.time())) if timestamp is None else str(timestamp)
    token = token or secrets.token_hex(25)
    return json.dumps(
        {
            "signature": {
                "timestamp": timestamp,
                "token": token,
                "signature": signature or mailgun.sign(key, timestamp, token),
            },
            "event-data": event_data,
        }
    )


def mailgun_failed(recipient, severity="permanent", domain="acme.test", **extra):
    """``failed`` event-data (anymail's sanitized payload, trimmed)."""
    return {
        "event": "failed",
        "severity": severity,
        "reason": "bounce" if severity == "permanent" else "generic",
        "id": uuid.uuid4().hex[:22],
        "timestamp": time.time(),
        "log-level": "error",
        "recipient": recipient,
        "domain": {"name": domain},
        "account": {"id": "a1b2c3"},
        "envelope": {"sender": f"news@{domain}", "transport": "smtp"},
        "message": {"headers": {"message-id": f"{uuid.uuid4().hex}@{domain}"}},
        "delivery-status": {"code": 550, "message": "No such user", "attempt-no": 1},
        **extra,
    }


def mailgun_complained(recipient, domain="acme.test"):
    return {
        "event": "complained",
        "id": uuid.uuid4().hex[:22],
        "timestamp": time.time(),
        "recipient": recipient,
        "domain": {"name": domain},
        "message": {"headers": {"from": f"News <news@{domain}>"}},
    }


# ----------------------------------------------------------------------
# SNS
# ----------------------------------------------------------------------
def make_signing_pair(days=1):
    """``(private key, PEM certificate bytes)``: a fresh RSA key and a
    self-signed certificate for it, valid ``days`` from now."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM)


def sns_timestamp(offset=0):
    moment = datetime.now(UTC) + timedelta(seconds=offset)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def sign_envelope(envelope, key, version="1"):
    """Sign ``envelope`` in place as SNS does (SignatureVersion 1: SHA1,
    2: SHA256) and return it."""
    envelope["SignatureVersion"] = version
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(sns.string_to_sign(envelope), padding.PKCS1v15(), algorithm)
    envelope["Signature"] = base64.b64encode(signature).decode()
    return envelope


def sns_notification(message, key, cert_url=CERT_URL, version="1", subject=None, **fields):
    """A signed Notification carrying ``message`` (a dict is sent as JSON)."""
    envelope = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": TOPIC_ARN,
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": sns_timestamp(),
        "SigningCertURL": cert_url,
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
    }
    if subject is not None:
        envelope["Subject"] = subject
    envelope.update(fields)
    return sign_envelope(envelope, key, version)


def sns_subscription(subscribe_url, key, cert_url=CERT_URL, version="1", topic_arn=TOPIC_ARN):
    envelope = {
        "Type": "SubscriptionConfirmation",
        "MessageId": str(uuid.uuid4()),
        "Token": secrets.token_hex(32),
        "TopicArn": topic_arn,
        "Message": f"You have chosen to subscribe to the topic {topic_arn}.",
        "SubscribeURL": subscribe_url,
        "Timestamp": sns_timestamp(),
        "SigningCertURL": cert_url,
    }
    return sign_envelope(envelope, key, version)


def ses_bounce(
    recipients, bounce_type="Permanent", source="news@acme.test", type_key="notificationType"
):
    return {
        type_key: "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [
                {"emailAddress": addr, "action": "failed", "status": "5.1.1"} for addr in recipients
            ],
            "timestamp": "2026-11-26T09:00:00.000Z",
            "feedbackId": f"0100{uuid.uuid4().hex}-000000",
            "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com",
        },
        "mail": {
            "timestamp": "2026-11-26T08:59:59.000Z",
            "messageId": uuid.uuid4().hex,
            "source": source,
            "sourceArn": "arn:aws:ses:eu-west-1:123456789012:identity/acme.test",
            "sendingAccountId": "123456789012",
            "destination": list(recipients),
        },
    }


def ses_complaint(recipients, source="news@acme.test"):
    return {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": addr} for addr in recipients],
            "timestamp": "2026-11-26T09:00:00.000Z",
            "feedbackId": f"0100{uuid.uuid4().hex}-000000",
            "complaintFeedbackType": "abuse",
        },
        "mail": {"messageId": uuid.uuid4().hex, "source": source, "destination": recipients},
    }


class LocalSns:
    """A loopback HTTP server playing SNS's side: serves ``pem`` at
    ``/cert.pem`` and records every other GET (the SubscribeURL)."""

    def __init__(self, pem=b""):
        self.pem = pem
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                confirmed = b"<ConfirmSubscriptionResponse/>"
                body = outer.pem if self.path.endswith(".pem") else confirmed
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path):
        return f"http://{self.host}{path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
