"""What a domain's DNS publishes, compared with what we expect.

Pure functions over a dnspython resolver (``GET /domains/{name}/dns-check``
calls them through ``emboux.domain._dns_check()``). The resolver is the
system's, or the ``emboux_dns_nameservers`` option (env
``EMBOUX_DNS_NAMESERVERS`` wins): a comma list of ``host[:port]`` IP
addresses (``[v6]:port`` for IPv6), with short timeouts
(``emboux_dns_timeout``, seconds, default 2). Any DNS failure (NXDOMAIN, no
answer, no nameserver, timeout) reads as "no record": ``found`` empty, ``ok``
false, never an error.

Comparison rules (names and hosts lower-case, trailing dots stripped; TXT
strings made of their chunks joined with nothing):

- **MX**: ok when an MX of the name points at the expected host; the
  priority is shown but not compared (a customer may order its MX freely).
- **SPF**: the TXT strings starting ``v=spf1``. Ok when there is exactly one
  (two are a permanent error for receivers, RFC 7208) and it contains every
  term we expect (case-insensitive, ``+`` qualifier implied) apart from the
  ``all`` term, whose policy (``~all``, ``-all``) is the customer's choice.
  Several expected SPF records for one name are merged into one check.
- **TXT** (e.g. ``_amazonses``): ok when one TXT string equals the expected
  value exactly (verification tokens are case-sensitive).
- **DKIM**: a CNAME (SES, ``<token>._domainkey``; ``rrtype`` CNAME): ok when
  its target is the expected host. A DKIM public key published as TXT
  (Mailgun; ``rrtype`` TXT, or without ``rrtype`` a value with ``p=``): ok
  when a TXT string equals it, whitespace ignored. Any other record to be
  published as a CNAME compares the same way.
"""

import ipaddress
import logging
import re

import dns.exception
import dns.nameserver
import dns.resolver

from odoo.addons.emboux_core.tools import get_config

_logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 2.0
_ALL_TERM_RE = re.compile(r"^[+\-~?]?all$")


def parse_nameservers(value):
    """``"127.0.0.1:5353, ::1, [::1]:53"`` as dnspython nameservers; an
    entry that is not an IP address (with an optional port) is skipped."""
    nameservers = []
    for item in str(value or "").split(","):
        item = item.strip()
        if not item:
            continue
        host, port = item, 53
        if item.startswith("["):
            host, _sep, rest = item[1:].partition("]")
            port = rest.removeprefix(":") or 53
        elif item.count(":") == 1:
            host, _sep, port = item.partition(":")
        try:
            ipaddress.ip_address(host)
            port = int(port)
            if not 0 < port < 65536:
                raise ValueError(port)
        except ValueError:
            _logger.warning("emboux_dns_nameservers: %r is not an IP address[:port]", item)
            continue
        nameservers.append(dns.nameserver.Do53Nameserver(host, port))
    return nameservers


def make_resolver(nameservers=None, timeout=None):
    """A resolver on ``nameservers`` (option text, see the module doc), else
    on the configured ones, else on the system's."""
    if nameservers is None:
        nameservers = get_config("emboux_dns_nameservers")
    if timeout is None:
        try:
            timeout = float(get_config("emboux_dns_timeout", default=DEFAULT_TIMEOUT))
        except (TypeError, ValueError):
            timeout = DEFAULT_TIMEOUT
    servers = parse_nameservers(nameservers)
    if servers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = servers
    else:
        try:
            resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            _logger.warning("DNS check: the system has no resolver configured")
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", 53)]
    resolver.timeout = min(timeout, 1.0)
    resolver.lifetime = timeout
    return resolver


def clean_name(value):
    return str(value or "").strip().lower().rstrip(".")


def lookup(resolver, name, rdtype):
    """The rdata of ``name``'s ``rdtype`` records, [] on any DNS failure."""
    try:
        return list(resolver.resolve(name, rdtype, search=False))
    except (dns.exception.DNSException, ValueError) as exc:
        _logger.debug("DNS check: %s %s: %s", name, rdtype, type(exc).__name__)
        return []


def txt_strings(resolver, name):
    return [
        b"".join(rdata.strings).decode("utf-8", "replace")
        for rdata in lookup(resolver, name, "TXT")
    ]


def spf_terms(record):
    """The terms of an SPF record that we compare (see the module doc)."""
    terms = []
    for term in record.lower().split()[1:]:
        term = term.removeprefix("+")
        if not _ALL_TERM_RE.match(term):
            terms.append(term)
    return terms


def is_spf(value):
    value = value.strip().lower()
    return value == "v=spf1" or value.startswith("v=spf1 ")


def merge_spf(first, second):
    """One SPF record with the terms of both (``first``'s ``all`` term last)."""
    terms = first.split()
    have = {term.lower().removeprefix("+") for term in terms}
    extra = [
        term
        for term in second.split()[1:]
        if term.lower().removeprefix("+") not in have and not _ALL_TERM_RE.match(term.lower())
    ]
    ends_with_all = bool(_ALL_TERM_RE.match(terms[-1].lower())) if len(terms) > 1 else False
    if ends_with_all:
        return " ".join([*terms[:-1], *extra, terms[-1]])
    return " ".join([*terms, *extra])


def expected_records(records):
    """The records to check, normalised: type upper-case, an SPF given as
    TXT typed SPF, SPF records of one name merged."""
    result, spf_by_name = [], {}
    for record in records:
        rtype = str(record.get("type") or "").upper()
        name = clean_name(record.get("name"))
        value = str(record.get("value") or "").strip()
        if rtype in ("TXT", "SPF") and is_spf(value):
            if name in spf_by_name:
                spf_by_name[name]["value"] = merge_spf(spf_by_name[name]["value"], value)
                continue
            rtype = "SPF"
        rrtype = str(record.get("rrtype") or "").upper()
        if rtype == "DKIM" and not rrtype:
            rrtype = "TXT" if "p=" in value else "CNAME"
        record = {
            "type": rtype,
            "rrtype": rrtype,
            "name": name,
            "value": value,
            "priority": record.get("priority"),
        }
        if rtype == "SPF":
            spf_by_name[name] = record
        result.append(record)
    return result


def check_record(resolver, record):
    """``{"type", "name", "expected", "found": [...], "ok"}`` for one
    expected record (normalised by :func:`expected_records`)."""
    rtype, name, value = record["type"], record["name"], record["value"]
    expected, found, ok = value, [], False
    if rtype == "MX":
        host = clean_name(value)
        priority = record.get("priority")
        expected = f"{priority} {host}" if priority not in (None, "") else host
        answers = lookup(resolver, name, "MX")
        found = [f"{a.preference} {clean_name(a.exchange.to_text())}" for a in answers]
        ok = any(clean_name(a.exchange.to_text()) == host for a in answers)
    elif rtype == "SPF":
        found = [txt for txt in txt_strings(resolver, name) if is_spf(txt)]
        ok = len(found) == 1 and set(spf_terms(value)) <= set(spf_terms(found[0]))
    elif record.get("rrtype") == "CNAME":
        expected = clean_name(value)
        found = [clean_name(a.target.to_text()) for a in lookup(resolver, name, "CNAME")]
        ok = expected in found
    elif rtype == "DKIM":  # a key published as TXT
        found = txt_strings(resolver, name)
        ok = "".join(value.split()) in ["".join(txt.split()) for txt in found]
    else:  # TXT, and any other type read as TXT
        found = txt_strings(resolver, name)
        ok = value in [txt.strip() for txt in found]
    return {"type": rtype, "name": name, "expected": expected, "found": found, "ok": ok}


def check_records(records, resolver=None):
    """Check each expected record (``[{"type", "name", "value",
    "priority"?, "rrtype"?}]``, ``rrtype`` the DNS type to publish when it
    differs from ``type``); returns the list of checks."""
    resolver = resolver or make_resolver()
    return [check_record(resolver, record) for record in expected_records(records)]
