"""The DNS check of a domain (``GET /domains/{name}/dns-check``)."""

from odoo import models

from .. import dns_check


class EmbouxDomain(models.Model):
    _inherit = "emboux.domain"

    def _dns_check(self, resolver=None):
        """``{"domain", "checks": [{"type", "name", "expected", "found",
        "ok"}], "all_ok"}``: the records this domain should publish
        (``_dns_records_to_publish()``, which checks that the caller may read
        the domain), looked up in the DNS by ``resolver`` (a dnspython
        resolver; default: the configured one) and compared by
        ``dns_check``'s rules."""
        self.ensure_one()
        checks = dns_check.check_records(self._dns_records_to_publish(), resolver)
        return {
            "domain": self.name,
            "checks": checks,
            "all_ok": bool(checks) and all(check["ok"] for check in checks),
        }
