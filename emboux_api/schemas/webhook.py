from typing import Literal

from pydantic import BaseModel, Field


class WebhookOut(BaseModel):
    """What a webhook did with a delivery; never more (the caller is a
    provider, not a client of the data)."""

    status: Literal["processed", "ignored", "duplicate", "confirmed"] = Field(
        description="`processed`: a bounce or complaint was applied; `ignored`: a "
        "verified event that changes nothing (temporary failure, delivery, ...); "
        "`duplicate`: an SNS message already processed (its retry); `confirmed`: an SNS "
        "subscription was confirmed."
    )
    kind: Literal["bounce", "complaint"] | None = Field(
        default=None, description="The event applied, when `processed`."
    )
