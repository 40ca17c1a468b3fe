"""The providers' bounce/complaint webhooks (public: the signature is the
authentication). The work is ``emboux.webhook.event``'s; a route only maps
its refusals to the status each provider understands."""

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from odoo.api import Environment

from odoo.addons.emboux_core.exceptions import EmbouxInputError
from odoo.addons.emboux_outbound.webhooks import (
    WebhookNotConfiguredError,
    WebhookSignatureError,
    WebhookUpstreamError,
)
from odoo.addons.fastapi.dependencies import odoo_env

from ..routing import EmbouxRouter, field_detail
from ..schemas import ErrorOut, WebhookOut

router = EmbouxRouter(tags=["webhooks"])

HTTP_406 = 406
HTTP_503 = 503


async def raw_body(request: Request) -> bytes:
    """The body as sent: signatures are checked on it, and SNS posts JSON
    as ``text/plain``."""
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]
OdooEnv = Annotated[Environment, Depends(odoo_env)]


def _json_body(*content_types):
    schema = {"type": "object", "additionalProperties": True}
    return {
        "requestBody": {
            "required": True,
            "content": {content_type: {"schema": schema} for content_type in content_types},
        }
    }


@router.post(
    "/webhooks/mailgun",
    summary="Mailgun bounce/complaint webhook (public, HMAC-signed)",
    responses={
        406: {"model": ErrorOut, "description": "Refused, do not retry: see the detail"},
        503: {"model": ErrorOut, "description": "No signing key configured: retry later"},
    },
    openapi_extra=_json_body("application/json"),
)
def mailgun_webhook(body: RawBody, env: OdooEnv) -> WebhookOut:
    """A Mailgun webhook delivery: `{"signature": {"timestamp", "token",
    "signature"}, "event-data": {...}}`. The signature is the hex
    HMAC-SHA256 of `timestamp + token` keyed with the webhook signing key
    (`MAILGUN_WEBHOOK_SIGNING_KEY`). A `failed` event with severity
    `permanent` suppresses its recipient as a bounce, `complained` as a
    complaint (both counted against the sending domain, `domain.name`);
    other events are acknowledged and ignored; unknown fields are
    tolerated.

    Refusals answer **406**, which Mailgun does not retry: a bad signature,
    a timestamp older than the accepted age (`emboux_webhook_max_age`,
    default one day) or more than 15 minutes ahead, a token already used
    (replay), a body that is not such JSON; the detail names the field. No
    signing key configured: **503**, which Mailgun retries for hours, so
    that events sent before the key is set are not lost."""
    try:
        result = env["emboux.webhook.event"]._receive_mailgun(body)
    except WebhookNotConfiguredError as exc:
        raise HTTPException(status_code=HTTP_503, detail=str(exc)) from exc
    except WebhookSignatureError as exc:
        raise HTTPException(status_code=HTTP_406, detail=str(exc)) from exc
    except EmbouxInputError as exc:
        raise HTTPException(status_code=HTTP_406, detail=field_detail(exc)) from exc
    return WebhookOut(**result)


@router.post(
    "/webhooks/ses",
    summary="Amazon SES bounce/complaint webhook through SNS (public, signed)",
    responses={
        403: {"model": ErrorOut, "description": "Topic, signature or certificate refused"},
        422: {"model": ErrorOut, "description": "Malformed envelope or message"},
        502: {"model": ErrorOut, "description": "The certificate or SubscribeURL failed"},
        503: {"model": ErrorOut, "description": "No SNS topic configured: nothing accepted"},
    },
    openapi_extra=_json_body("text/plain", "application/json"),
)
def ses_webhook(body: RawBody, env: OdooEnv) -> WebhookOut:
    """An Amazon SNS HTTP(S) delivery (JSON sent as `text/plain`). Only
    trusted topics are accepted: those listed in `emboux_ses_sns_topic_arns`
    (env `EMBOUX_SES_SNS_TOPIC_ARNS`, comma- or space-separated ARNs). The
    `TopicArn` is checked first, before any certificate is fetched or
    subscription confirmed. Its signature is then verified
    (SignatureVersion 1, SHA1, and 2, SHA256) with the certificate at
    `SigningCertURL`, which must be https on an
    `sns.<region>.amazonaws.com` host and end with `.pem` (fetched once,
    cached). A `SubscriptionConfirmation` is confirmed by a GET of its
    `SubscribeURL` (same host check). A `Notification` is processed once per
    `MessageId` (SNS retries answer `duplicate`): an SES `Bounce` with
    `bounceType` `Permanent` suppresses each bounced recipient, a
    `Complaint` each complained recipient; transient bounces, deliveries
    and SES's "Successfully validated SNS topic" text are ignored.

    **403**: a topic not trusted, a bad signature, an untrusted certificate
    URL, a message older than the accepted age; **422**: a malformed
    envelope or SES message, the detail naming the field; **502**: the
    certificate or the SubscribeURL could not be fetched (SNS retries);
    **503**: no SNS topic is configured, so every delivery is refused (a
    warning in the log names its topic). A refusal changes nothing."""
    try:
        result = env["emboux.webhook.event"]._receive_sns(body)
    except WebhookNotConfiguredError as exc:
        raise HTTPException(status_code=HTTP_503, detail=str(exc)) from exc
    except WebhookSignatureError as exc:
        raise HTTPException(status_code=403, detail=str(exc)) from exc
    except WebhookUpstreamError as exc:
        raise HTTPException(status_code=502, detail=str(exc)) from exc
    return WebhookOut(**result)
