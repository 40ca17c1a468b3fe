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


class ProviderIn(BaseModel):
    provider: Provider = Field(description="The provider to move the domain's sending identity to")


class ProviderChangeOut(BaseModel):
    """A domain's provider and its move to another one. `provider` is the
    one the domain sends through; while `next_provider` is set the domain
    moves there, and switches once that one verified it."""

    domain: str
    provider: Provider | None = Field(description="The provider the domain sends through now")
    status: VerificationStatus = Field(description="The domain's verification at `provider`")
    dkim_status: VerificationStatus
    verified_at: UtcDatetime | None = None
    provider_error: str | None = Field(
        default=None, description="The last failure of `provider` (the polling cron retries)"
    )
    next_provider: Provider | None = Field(
        default=None, description="The provider the domain moves to; null: no move"
    )
    next_status: VerificationStatus | None = Field(
        default=None,
        description="The verification at `next_provider`: `not_started` until its identity "
        "is created (right after the request, by the polling cron)",
    )
    next_error: str | None = Field(
        default=None,
        description="Why the move has not gone through yet; the domain keeps sending "
        "through `provider`",
    )
    records: list[DnsRecordOut] = Field(
        description="The DNS records to publish: during a move those of both providers "
        "(the SPF includes both)"
    )

    @classmethod
    def from_info(cls, info: dict) -> "ProviderChangeOut":
        return cls(
            **{key: info[key] for key in cls.model_fields if key != "records"},
            records=[DnsRecordOut(**rec) for rec in info["records"]],
        )
