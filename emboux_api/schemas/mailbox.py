from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from .common import Count, Flag, Text, UtcDatetime

_PASSWORD = {"format": "password", "writeOnly": True}


class MailboxCreate(BaseModel):
    email: Text = Field(examples=["jane@example.com"])
    password: Text = Field(
        repr=False, description="At least 10 characters", json_schema_extra=_PASSWORD
    )
    name: Text | None = Field(default=None, description="Display name")
    quota_mb: Count | None = Field(default=None, description="Default 1024; 0 means unlimited")
    catch_all: Flag = Field(
        default=False, description="Also receive mail for unknown addresses of the domain"
    )


class MailboxUpdate(BaseModel):
    password: Text | None = Field(
        default=None, repr=False, description="A new password", json_schema_extra=_PASSWORD
    )
    name: Text | None = Field(default=None, description="Display name; null clears it")
    active: Flag | None = None
    catch_all: Flag | None = Field(
        default=None, description="Extension: set or remove the domain's catch-all to this mailbox"
    )


class MailboxOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    # the stored fields of emboux.mailbox an answer reads: a list fetches
    # only these (``search_fetch``), not every column of the model
    RECORD_FIELDS: ClassVar[tuple[str, ...]] = (
        "email",
        "domain_id",
        "name",
        "quota_mb",
        "active",
        "catch_all",
        "create_date",
        "write_date",
    )

    email: str
    domain: str
    name: str | None
    quota_mb: int = Field(description="0: unlimited")
    active: bool
    catch_all: bool
    created_at: UtcDatetime
    updated_at: UtcDatetime

    @classmethod
    def from_record(cls, mailbox) -> "MailboxOut":
        return cls.from_records(mailbox)[0]

    @classmethod
    def from_records(cls, mailboxes) -> list["MailboxOut"]:
        """The answers for ``mailboxes``, in their order: their columns in
        one query (prefetching), the names of their domains in one."""
        domains = mailboxes.domain_id
        domains.fetch(["name"])
        domain_names = {domain.id: domain.name for domain in domains}
        return [
            cls(
                email=mailbox.email,
                domain=domain_names[mailbox.domain_id.id],
                name=mailbox.name or None,
                quota_mb=mailbox.quota_mb,
                active=mailbox.active,
                catch_all=mailbox.catch_all,
                created_at=mailbox.create_date,
                updated_at=mailbox.write_date,
            )
            for mailbox in mailboxes
        ]


_USED_MB = "Storage used in MB (rounded up) as Dovecot's quota last reported it; null until read"
_USED_AT = "When Dovecot last reported the storage used; null until read"


class MailboxDetailOut(MailboxOut):
    """``GET /users/{email}``: a mailbox with its storage used."""

    used_mb: int | None = Field(description=_USED_MB)
    used_at: UtcDatetime | None = Field(description=_USED_AT)

    @classmethod
    def from_record(cls, mailbox) -> "MailboxDetailOut":
        return cls(
            **MailboxOut.from_record(mailbox).model_dump(),
            used_mb=mailbox.used_mb if mailbox.used_at else None,
            used_at=mailbox.used_at or None,
        )


class QuotaOut(BaseModel):
    quota_mb: int = Field(description="0: unlimited")
    used_mb: int | None = Field(description=_USED_MB)

    @classmethod
    def from_record(cls, mailbox) -> "QuotaOut":
        return cls(
            quota_mb=mailbox.quota_mb,
            used_mb=mailbox.used_mb if mailbox.used_at else None,
        )


class QuotaIn(BaseModel):
    quota_mb: Count | None = Field(description="MB; null or 0 means unlimited")
