from pydantic import BaseModel, ConfigDict, Field

from .common import Text


class AliasCreate(BaseModel):
    source: Text = Field(
        description="An address of a hosted domain, or '@domain' for a catch-all",
        examples=["info@example.com"],
    )
    destination: Text = Field(description="Any address", examples=["jane@example.com"])


class AliasOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    source: str
    destination: str
    domain: str
    catch_all: bool

    @classmethod
    def from_record(cls, alias) -> "AliasOut":
        return cls(
            source=alias.source,
            destination=alias.destination,
            domain=alias.domain_id.name,
            catch_all=alias.catch_all,
        )
