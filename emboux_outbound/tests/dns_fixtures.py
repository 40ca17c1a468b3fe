"""A real authoritative DNS server on loopback (dnslib), for the DNS check
tests of emboux_outbound and emboux_api."""

import textwrap

from dnslib.server import DNSLogger, DNSServer
from dnslib.zoneresolver import ZoneResolver

ZONE = """
acme.test.                 300 IN MX    10 mail.acme.test.
acme.test.                 300 IN MX    20 Backup.Example.NET.
acme.test.                 300 IN TXT   "v=spf1 mx " "include:mailgun.org ~all"
acme.test.                 300 IN TXT   "site-verification=abc"
_amazonses.acme.test.      300 IN TXT   "TokEN123+/="
tok1._domainkey.acme.test. 300 IN CNAME tok1.dkim.amazonses.com.
smtp._domainkey.acme.test. 300 IN TXT   "k=rsa; p=MIGfMA0GCS" "qGSIb3DQEBAQ"
two-spf.test.              300 IN TXT   "v=spf1 mx ~all"
two-spf.test.              300 IN TXT   "v=spf1 a ~all"
"""


class LocalDns:
    """``with LocalDns(zone) as dns:`` serves ``zone`` over UDP on
    127.0.0.1 at a free port (``dns.nameservers``, option syntax)."""

    def __init__(self, zone=ZONE):
        self.server = DNSServer(
            ZoneResolver(textwrap.dedent(zone)),
            address="127.0.0.1",
            port=0,
            logger=DNSLogger("-request,-reply,-truncated,-error", prefix=False),
        )
        self.port = self.server.server.server_address[1]
        self.nameservers = f"127.0.0.1:{self.port}"

    def __enter__(self):
        self.server.start_thread()
        return self

    def __exit__(self, *exc):
        self.server.stop()
        self.server.server.server_close()
