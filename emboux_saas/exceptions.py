"""Exceptions of the tenancy layer.

:class:`EmbouxQuotaError`: a tenant quota would be exceeded. It is a refusal
of its own kind, not an access error (the caller may do this, only not
once more): ``field`` names the quota (``max_domains``,
``max_mailboxes_per_domain``, ``max_aliases_per_mailbox``) and the message
is a plain sentence. The REST API answers 403 with a detail naming the
quota, the portal shows the message beside the input the quota limits.
"""

from odoo.exceptions import UserError


class EmbouxQuotaError(UserError):
    """A tenant quota would be exceeded (API 403). ``field`` names it."""

    def __init__(self, quota, message):
        super().__init__(message)
        self.field = quota

    @property
    def quota(self):
        """The name of the quota: ``field``."""
        return self.field
