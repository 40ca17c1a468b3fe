from typing import Literal

from pydantic import BaseModel, Field

from .common import UtcDatetime
from .domain import Provider, VerificationStatus


class DnsRecordOut(BaseModel):
    type: Literal["MX", "SPF", "TXT", "DKIM"] = Field(
        description="What the record is for: the MX, the one SPF record, a provider's "
        "ownership TXT (SES `_amazonses`), a DKIM key or CNAME"
    )
    rrtype: Literal["MX", "TXT", "CNAME"] = Field(
        description="The DNS type to publish it as (SPF and Mailgun's DKIM are TXT, "
        "SES's DKIM records are CNAMEs)"
    )
    name: str = Field(examples=["abc123._domainkey.example.com"])
    value: str = Field(examples=["abc123.dkim.amazonses.com"])
    priority: int | None = Field(default=None, description="MX only")


class VerifyStatusOut(BaseModel):
    """A domain's verification, as its provider last told it (a linked
    subdomain answers its wildcard parent's, named in `inherited_from`)."""

    status: VerificationStatus
    dkim_status: VerificationStatus
    provider: Provider | None = None
    verified_at: UtcDatetime | None = None
    inherited_from: str | None = None

    @classmethod
    def from_status(cls, status: dict) -> "VerifyStatusOut":
        return cls(**{key: status[key] for key in cls.model_fields})


class VerifyOut(VerifyStatusOut):
    """The answer of `verify` and `register-subdomain`: the verification and
    the DNS records to publish."""

    domain: str
    provider_error: str | None = Field(
        default=None,
        description="The provider failed or timed out: the domain stays `pending` "
        "and the polling cron retries; null when the provider answered",
    )
    records: list[DnsRecordOut] = Field(
        description="MX and SPF (with the provider's include), then the provider's "
        "records (SES: `_amazonses` TXT and 3 DKIM CNAMEs; Mailgun: its DKIM TXT)"
    )

    @classmethod
    def from_parts(cls, status: dict, records: list) -> "VerifyOut":
        return cls(
            **{key: status.get(key) for key in cls.model_fields if key != "records"},
            records=[DnsRecordOut(**rec) for rec in records],
        )
