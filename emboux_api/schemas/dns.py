from pydantic import BaseModel, Field


class DnsCheckItem(BaseModel):
    type: str = Field(examples=["MX"], description="`MX`, `SPF`, `TXT` or `DKIM`")
    name: str = Field(examples=["example.com"], description="The name looked up")
    expected: str = Field(
        examples=["10 mail.example.com"],
        description="What should be published (MX: `priority host`)",
    )
    found: list[str] = Field(
        description="What the DNS answers at that name (MX: `priority host`; SPF: the "
        "`v=spf1` strings; TXT: every string, chunks joined; DKIM: the CNAME target or "
        "the TXT strings); empty when nothing answers"
    )
    ok: bool


class DnsCheckOut(BaseModel):
    domain: str
    checks: list[DnsCheckItem]
    all_ok: bool = Field(description="Every check is ok")
