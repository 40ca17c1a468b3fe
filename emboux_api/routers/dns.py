from ..dependencies import master_or_owner
from ..routing import EmbouxRouter
from ..schemas import DnsCheckOut
from .domains import _NOT_FOUND, Domain

router = EmbouxRouter(tags=["domains"])


@router.get("/domains/{name}/dns-check", **master_or_owner(responses=_NOT_FOUND))
def dns_check(domain: Domain) -> DnsCheckOut:
    """Look up the records the domain should publish (MX, SPF, the
    provider's verification TXT and DKIM) in the DNS and compare. Names and
    hosts compare lower-case without the trailing dot; TXT chunks are
    joined. MX: ok when an MX points at the expected host (priority not
    compared). SPF: ok when exactly one `v=spf1` record holds every
    expected term (the `all` policy is the customer's). TXT: exact value.
    DKIM: CNAME target, or the TXT key with whitespace ignored. A name that
    does not resolve, or a DNS server that does not answer (short
    timeouts), reads as a missing record: `found` empty, `ok` false."""
    return DnsCheckOut(**domain._dns_check())
