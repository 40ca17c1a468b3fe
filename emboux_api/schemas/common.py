from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

MAX_INT = 2**31 - 1


def _as_utc(value: datetime) -> datetime:
    """Odoo stores naive UTC datetimes: say so (serialised with ``Z``)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _clean_text(value: str) -> str:
    """Text PostgreSQL can store: no NUL character, valid UTF-8."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid UTF-8 text") from exc
    return value


def _iso_text(value: Any) -> Any:
    """A time in a request is ISO 8601 text (the API contract), not a Unix time:
    pydantic would read ``2000000000`` or ``"2000000000"`` as one."""
    if not isinstance(value, str) or value.strip().replace(".", "", 1).isdigit():
        raise ValueError("must be an ISO 8601 time, e.g. 2030-01-31T12:00:00Z")
    return value


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
# a time sent by the client
UtcDatetimeIn = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_as_utc)]
Text = Annotated[str, AfterValidator(_clean_text)]
# strict: 12 is a count, "12", 12.0 and true are not (422, the API contract's "Validation")
Count = Annotated[int, Field(strict=True, ge=0, le=MAX_INT)]
Flag = Annotated[bool, Field(strict=True)]


class ErrorOut(BaseModel):
    """Every error: ``{"detail": ...}``; a string, or FastAPI's list of
    validation errors (each naming the field in ``loc``)."""

    detail: str | list[dict[str, Any]]


class HealthOut(BaseModel):
    status: str = Field(examples=["ok"])
    database: str = Field(examples=["ok"])
    version: str = Field(description="Version of the emboux_api addon")
