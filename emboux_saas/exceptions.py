"""Exceptions of the tenancy layer.

:class:`EmbouxQuotaError` is an :class:`~odoo.exceptions.AccessError`: the
caller may not have more of something. ``quota`` names the tenant quota
(``max_domains``, ``max_mailboxes_per_domain``, ``max_aliases_per_mailbox``)
and the message starts with it, so the REST API answers 403 with a detail
naming the quota and the portal shows the message as is.
"""

from odoo.exceptions import AccessError


class EmbouxQuotaError(AccessError):
    """A tenant quota would be exceeded (API 403). ``quota`` names it."""

    def __init__(self, quota, message):
        super().__init__(message)
        self.quota = quota
