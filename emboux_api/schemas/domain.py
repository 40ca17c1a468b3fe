from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from .common import Count, Flag, Text, UtcDatetime

Provider = Literal["mailgun", "ses"]
VerificationStatus = Literal["not_started", "pending", "verified", "failed"]


class DomainCreate(BaseModel):
    name: Text = Field(
        description="Domain name; stored lower-case, internationalised names in punycode",
        examples=["example.com"],
    )
    partner_ref: Text | None = Field(
        default=None,
        description="Tenant owning the domain. Honoured for the master (an unknown "
        "reference is 422 naming `partner_ref`; absent or null: the operator's own "
        "domain, no tenant); ignored for a customer, who always owns what it creates.",
    )
    provider: Provider | None = Field(
        default=None,
        description="Outbound provider of the domain; absent or null: the default "
        "provider of Settings (none there: no provider). A domain with a provider starts "
        "its verification at once, unless it is a subdomain of a wildcard parent: it is "
        "then registered with the parent's identity and must use the parent's provider "
        "(another one is 422 naming `provider`).",
    )


class DomainOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    # the stored fields of emboux.domain an answer reads: a list fetches only
    # these (``search_fetch``), not every column of the model
    RECORD_FIELDS: ClassVar[tuple[str, ...]] = (
        "name",
        "tenant_id",
        "parent_id",
        "is_wildcard",
        "provider",
        "verification_status",
        "status",
        "retention_days",
        "create_date",
        "write_date",
    )

    name: str
    partner_ref: str | None = None
    status: Literal["active", "suspended"]
    parent: str | None = None
    wildcard: bool = False
    provider: Provider | None = None
    verification_status: VerificationStatus = "not_started"
    verified_via_parent: bool = False
    mailbox_count: int
    alias_count: int
    retention_days: int | None = Field(description="null: mail is kept forever")
    created_at: UtcDatetime
    updated_at: UtcDatetime

    @classmethod
    def from_record(cls, domain) -> "DomainOut":
        return cls.from_records(domain)[0]

    @classmethod
    def from_records(cls, domains) -> list["DomainOut"]:
        """The answers for ``domains``, in their order, in as many queries
        for 1 domain as for 1,000: their columns in one query (prefetching;
        a list reads them with its search, ``RECORD_FIELDS``), their tenants
        in one, the counts in one grouped query per model (a compute batched
        over the domains), the effective verification set-based from the
        SQL view in one (``_read_effective_outbound_sql``: the rule of the
        ``effective_*`` fields, which resolve the chain of parents one
        record at a time),
        and one access check for all the parents."""
        if not domains:
            return []
        effective = domains._read_effective_outbound_sql()
        partner_refs = {tenant.id: tenant.partner_ref for tenant in domains.tenant_id}
        # a parent the caller may not read (another tenant's) stays unnamed
        parent_names = {
            parent.id: parent.name for parent in domains.parent_id._filtered_access("read")
        }
        answers = []
        for domain in domains:
            if (row := effective.get(domain.id)) is not None:
                status = row["verification_status"]
                via_parent = row["inherited_from"] is not None and status == "verified"
            else:  # not in the table (a new record): the computes
                status = domain.effective_verification_status
                via_parent = domain.verified_via_parent
            answers.append(
                cls(
                    name=domain.name,
                    partner_ref=partner_refs.get(domain.tenant_id.id) or None,
                    parent=parent_names.get(domain.parent_id.id),
                    wildcard=domain.is_wildcard,
                    provider=domain.provider or None,
                    # a subdomain of a wildcard parent reports the parent's verification
                    verification_status=status or "not_started",
                    verified_via_parent=via_parent,
                    status=domain.status,
                    mailbox_count=domain.mailbox_count,
                    alias_count=domain.alias_count,
                    retention_days=domain.retention_days or None,
                    created_at=domain.create_date,
                    updated_at=domain.write_date,
                )
            )
        return answers


class RetentionOut(BaseModel):
    retention_days: int | None = Field(description="null: mail is kept forever")
    last_purge_at: UtcDatetime | None = Field(
        description="When the retention purge last ran for the domain (whatever Dovecot "
        "answered); null until it first ran"
    )
    last_purge_error: str | None = Field(
        description="Why the last purge failed, wholly or for some mailboxes (the next daily "
        "run retries); null when it succeeded"
    )

    @classmethod
    def from_record(cls, domain) -> "RetentionOut":
        return cls(
            retention_days=domain.retention_days or None,
            last_purge_at=domain.last_purge_at or None,
            last_purge_error=domain.last_purge_error or None,
        )


class RetentionIn(BaseModel):
    retention_days: Count | None = Field(description="Days; null or 0 keeps mail forever")


class TransferOut(BaseModel):
    monthly_transfer_limit_mb: int = Field(description="0: unlimited")
    transfer_used_mb: int

    @classmethod
    def from_record(cls, domain) -> "TransferOut":
        return cls(
            monthly_transfer_limit_mb=domain.monthly_transfer_limit_mb,
            transfer_used_mb=domain.transfer_used_mb,
        )


class TransferIn(BaseModel):
    monthly_transfer_limit_mb: Count | None = Field(
        description="MB per month; null or 0 means unlimited. "
        "transfer_used_mb is read-only (ignored when sent)."
    )


class ParentIn(BaseModel):
    parent: Text | None = Field(
        default=None,
        description="Name of the parent domain; null unlinks. Not sent: unchanged.",
        examples=["example.com"],
    )
    wildcard: Flag | None = Field(
        default=None,
        description="Make this domain a wildcard parent (its new and existing subdomains "
        "link to it). Not sent or null: unchanged.",
    )


class OwnerIn(BaseModel):
    partner_ref: Text = Field(description="The tenant receiving the domain", examples=["acme"])
