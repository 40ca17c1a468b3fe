from typing import ClassVar

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

    # the stored fields of emboux.alias an answer reads: a list fetches only
    # these (``search_fetch``), not every column of the model
    RECORD_FIELDS: ClassVar[tuple[str, ...]] = ("source", "destination", "domain_id", "catch_all")

    source: str
    destination: str
    domain: str
    catch_all: bool

    @classmethod
    def from_record(cls, alias) -> "AliasOut":
        return cls.from_records(alias)[0]

    @classmethod
    def from_records(cls, aliases) -> list["AliasOut"]:
        """The answers for ``aliases``, in their order: their columns in one
        query (prefetching), the names of their domains in one."""
        domains = aliases.domain_id
        domains.fetch(["name"])
        domain_names = {domain.id: domain.name for domain in domains}
        return [
            cls(
                source=alias.source,
                destination=alias.destination,
                domain=domain_names[alias.domain_id.id],
                catch_all=alias.catch_all,
            )
            for alias in aliases
        ]
