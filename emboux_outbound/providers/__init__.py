"""Mail providers: the outbound relays that hold a domain's identity.

``get_provider(code)`` answers the provider registered under ``code``
(``"mailgun"``, ``"ses"``); a local DKIM signer would register as a third
one. Providers know nothing of Odoo records: they take domain names and
answer plain values, and raise :class:`ProviderError` for any failure
(network, timeout, refusal), with a message safe to log and to store.
"""

from .base import (
    IdentityStatus,
    MailProvider,
    ProviderError,
    get_provider,
    provider_codes,
    register_provider,
)
from . import mailgun, ses

__all__ = [
    "IdentityStatus",
    "MailProvider",
    "ProviderError",
    "get_provider",
    "mailgun",
    "provider_codes",
    "register_provider",
    "ses",
]
