from typing import Literal

from pydantic import BaseModel, Field

from .common import UtcDatetime

SuppressionReason = Literal["bounce", "complaint", "manual"]


class SuppressionOut(BaseModel):
    email: str
    reason: SuppressionReason
    source: str | None = Field(description="mailgun, ses, manual (staff), api")
    domain: str | None = Field(description="The sending domain whose mail bounced, if known")
    created_at: UtcDatetime

    @classmethod
    def from_record(cls, entry) -> "SuppressionOut":
        return cls(
            email=entry.email,
            reason=entry.reason,
            source=entry.source or None,
            domain=entry.domain or None,
            created_at=entry.create_date,
        )


class SuppressionCheckOut(BaseModel):
    email: str
    suppressed: bool
    reason: SuppressionReason | None
