from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from .common import MAX_INT, Count, Text

Enforcement = Literal["hard", "soft", "off"]
OutboundStatus = Literal["active", "paused", "guillotined"]
WarmupProfile = Literal["fast", "standard", "conservative"]
SendReason = Literal[
    "suspended",
    "unverified",
    "paused",
    "guillotined",
    "daily_limit",
    "monthly_limit",
    "hourly_limit",
    "warmup_cap",
    "spike",
    "transfer_limit",
    "suppressed",
]


class OutboundOut(BaseModel):
    """The Outbound object of the API contract. Limits of 0 mean no limit."""

    domain: str
    outbound_tier: str | None = Field(description="Code of the effective tier")
    outbound_enforcement: Enforcement
    outbound_status: OutboundStatus
    daily_limit: int = Field(
        description="Effective: the lower of the tier's limit and the domain's own cap; 0: none"
    )
    monthly_limit: int = Field(description="As daily_limit, per calendar month; 0: none")
    sent_today: int
    sent_this_month: int
    hourly_limit: int = Field(description="ceil(daily_limit x HOURLY_FRACTION); 0: none")
    sent_this_hour: int = Field(description="In the current clock hour (UTC)")
    warmup_profile: WarmupProfile | None
    warmup_cap_today: int | None = Field(description="null: no warm-up, or it is over")
    spike_max_multiplier: float = Field(description="The domain's, else the default")
    bounce_rate: float = Field(description="Over the last 7 days and today")
    complaint_rate: float = Field(description="Over the last 7 days and today")
    inherited_from: str | None = Field(
        description="The wildcard parent whose tier, enforcement and verification apply"
    )


class OutboundIn(BaseModel):
    """Fields not sent stay as they are; other fields of the Outbound
    object are ignored (a GET may be sent back)."""

    outbound_tier: Text = Field(default=None, description="Master only")
    outbound_enforcement: Enforcement = Field(default=None, description="Master only")
    outbound_status: OutboundStatus = Field(
        default=None, description="Master only; `active` lifts a pause or a guillotine"
    )
    warmup_profile: WarmupProfile | None = Field(
        default=None, description="Master only; null: no warm-up"
    )
    spike_max_multiplier: (
        Annotated[float, Field(strict=True, ge=1, le=1000, allow_inf_nan=False)] | None
    ) = Field(default=None, description="Master only; null: the default (SPIKE_MAX_MULTIPLIER)")
    daily_limit: Count | None = Field(
        default=None,
        description="The domain's own daily cap (customer or master): a value below the "
        "tier's limit caps it; null, 0 or a value at or above the tier's limit removes the cap",
    )
    monthly_limit: Count | None = Field(
        default=None, description="The domain's own monthly cap, as daily_limit"
    )


class IncrementIn(BaseModel):
    count: Annotated[int, Field(strict=True, ge=1, le=MAX_INT)] = Field(
        default=1, description="Messages to count"
    )
    recipients: Annotated[list[Text], Field(max_length=1000)] | None = Field(
        default=None, description="Recipient addresses, checked against the suppression list"
    )
    size_bytes: Annotated[int, Field(strict=True, ge=0, le=MAX_INT)] = Field(
        default=0, description="Size of the message, counted against the monthly transfer limit"
    )


class IncrementOut(BaseModel):
    allowed: bool
    reason: SendReason | None = Field(
        description="Why it is refused; with soft enforcement, the limit an allowed message exceeds"
    )
    suppressed_recipients: list[str]
    sent_today: int
    daily_limit: int = Field(description="0: no limit")
    remaining_today: int | None = Field(
        description="Messages left today under the daily limit and the warm-up cap; null: no limit"
    )


class ResetOut(BaseModel):
    domains_reset: int = Field(description="Domains whose counters had something to reset")


class OutboundDayOut(BaseModel):
    """One day of GET /domains/{name}/outbound/history."""

    day: date = Field(description="UTC day")
    sent: int = Field(description="Messages sent (counted by the send decision)")
    bounces: int
    complaints: int
