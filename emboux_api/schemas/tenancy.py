from datetime import datetime, timezone
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_serializer

from .alias import AliasOut
from .common import Count, Text, UtcDatetime, UtcDatetimeIn
from .domain import DomainOut
from .mailbox import MailboxOut


def _in_the_future(value: datetime) -> datetime:
    """An expiry in the past would make a key that never works."""
    if value <= datetime.now(timezone.utc):
        raise ValueError("must be in the future")
    return value


FutureUtcDatetime = Annotated[UtcDatetimeIn, AfterValidator(_in_the_future)]


def _utc(value):
    """An Odoo datetime (naive UTC) or False as an aware datetime or None."""
    if not value:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


# ----------------------------------------------------------------------
# API keys
# ----------------------------------------------------------------------
class ApiKeyCreate(BaseModel):
    partner_ref: Text = Field(
        description="The tenant's reference (1-64 letters, digits, dots, underscores or "
        "hyphens); the tenant is created when new",
        examples=["acme"],
    )
    name: Text = Field(description="What the key is for", examples=["billing app"])
    expires_at: FutureUtcDatetime | None = Field(
        default=None, description="ISO 8601 time, in the future; null: never expires"
    )


class ApiKeyOut(BaseModel):
    """An API key, never its token."""

    model_config = ConfigDict(from_attributes=True)

    # the stored fields of emboux.api.key an answer reads: a list fetches
    # only these (``search_fetch``), not every column of the model
    RECORD_FIELDS: ClassVar[tuple[str, ...]] = (
        "tenant_id",
        "name",
        "prefix",
        "expires_at",
        "revoked_at",
        "create_date",
        "last_used_at",
    )

    id: int
    partner_ref: str
    name: str
    prefix: str = Field(description="The first characters of the token, to tell keys apart")
    expires_at: UtcDatetime | None
    state: Literal["active", "expired", "revoked"]
    created_at: UtcDatetime
    last_used_at: UtcDatetime | None
    revoked_at: UtcDatetime | None

    @classmethod
    def from_record(cls, key) -> "ApiKeyOut":
        return cls.from_records(key)[0]

    @classmethod
    def from_records(cls, keys) -> list["ApiKeyOut"]:
        """The answers for ``keys``, in their order: their columns in one
        query (prefetching, ``state`` a compute batched over them), their
        tenants in one."""
        partner_refs = {tenant.id: tenant.partner_ref for tenant in keys.tenant_id}
        return [
            cls(
                id=key.id,
                partner_ref=partner_refs[key.tenant_id.id],
                name=key.name,
                prefix=key.prefix or "",
                expires_at=_utc(key.expires_at),
                state=key.state,
                created_at=key.create_date,
                last_used_at=_utc(key.last_used_at),
                revoked_at=_utc(key.revoked_at),
            )
            for key in keys
        ]


class ApiKeyCreated(BaseModel):
    """A new key: the only answer that ever holds its token."""

    id: int
    partner_ref: str
    name: str
    prefix: str
    expires_at: UtcDatetime | None
    token: str = Field(description="The API key itself; shown this once, stored hashed only")

    @classmethod
    def from_record(cls, key, token) -> "ApiKeyCreated":
        return cls(
            id=key.id,
            partner_ref=key.tenant_id.partner_ref,
            name=key.name,
            prefix=key.prefix or "",
            expires_at=_utc(key.expires_at),
            token=token,
        )


# ----------------------------------------------------------------------
# tenants
# ----------------------------------------------------------------------
class TenantOut(BaseModel):
    partner_ref: str
    name: str
    max_domains: int = Field(description="0: unlimited")
    max_mailboxes_per_domain: int = Field(description="0: unlimited")
    max_aliases_per_mailbox: int = Field(
        description="How many alias rows may deliver to one address; 0: unlimited"
    )
    domains_used: int

    @classmethod
    def from_record(cls, tenant) -> "TenantOut":
        return cls(
            partner_ref=tenant.partner_ref,
            name=tenant.name or tenant.partner_ref,
            max_domains=tenant.max_domains,
            max_mailboxes_per_domain=tenant.max_mailboxes_per_domain,
            max_aliases_per_mailbox=tenant.max_aliases_per_mailbox,
            domains_used=tenant.domains_used,
        )


class TenantIn(BaseModel):
    name: Text | None = Field(default=None, description="The customer's name")
    max_domains: Count | None = Field(default=None, description="0: unlimited")
    max_mailboxes_per_domain: Count | None = Field(default=None, description="0: unlimited")
    max_aliases_per_mailbox: Count | None = Field(default=None, description="0: unlimited")


# ----------------------------------------------------------------------
# usage and delta sync
# ----------------------------------------------------------------------
class QuotasOut(BaseModel):
    max_domains: int
    max_mailboxes_per_domain: int
    max_aliases_per_mailbox: int


class UsageCountsOut(BaseModel):
    domains_used: int
    mailboxes: int
    aliases: int


class DeletedOut(BaseModel):
    type: Literal["domain", "user", "alias"]
    key: str = Field(description="Domain name, mailbox address or alias source")
    destination: str | None = Field(
        default=None,
        description="Only for an alias (several rows may share a source): the destination "
        "of the deleted row",
    )
    deleted_at: UtcDatetime

    @model_serializer(mode="wrap")
    def _alias_only_destination(self, handler):
        # the API contract: {"type", "key", "deleted_at"}; an alias row adds its destination
        data = handler(self)
        if self.type != "alias":
            data.pop("destination", None)
        return data


class ChangesOut(BaseModel):
    domains: list[DomainOut]
    users: list[MailboxOut]
    aliases: list[AliasOut]
    deleted: list[DeletedOut]


class UsageOut(BaseModel):
    partner_ref: str
    name: str = Field(description="The key's name")
    expires_at: UtcDatetime | None
    quotas: QuotasOut
    usage: UsageCountsOut
    server_time: UtcDatetime = Field(
        description="Pass it back as `since` to get what changed from now on"
    )
    changes: ChangesOut | None = Field(
        default=None, description="Only with `since` (absent otherwise)"
    )

    def as_json(self) -> dict:
        """The JSON body: ``changes`` only when asked for."""
        exclude = None if self.changes is not None else {"changes"}
        return self.model_dump(mode="json", exclude=exclude)

    @classmethod
    def from_usage(cls, usage) -> "UsageOut":
        changes = usage.get("changes")
        if changes is not None:
            changes = ChangesOut(
                domains=DomainOut.from_records(changes["domains"]),
                users=MailboxOut.from_records(changes["users"]),
                aliases=AliasOut.from_records(changes["aliases"]),
                deleted=[DeletedOut(**entry) for entry in changes["deleted"]],
            )
        return cls(
            partner_ref=usage["partner_ref"],
            name=usage["name"],
            expires_at=_utc(usage.get("expires_at")),
            quotas=QuotasOut(**usage["quotas"]),
            usage=UsageCountsOut(**usage["usage"]),
            server_time=usage["server_time"],
            changes=changes,
        )
