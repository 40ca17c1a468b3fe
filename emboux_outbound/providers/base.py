"""The provider interface and its registry."""

from dataclasses import dataclass, field

# the provider's words for a state, mapped to the domain's selection
NOT_STARTED = "not_started"
PENDING = "pending"
VERIFIED = "verified"
FAILED = "failed"

_REGISTRY = {}


class ProviderError(Exception):
    """A provider call failed: network error, timeout, refusal, missing
    configuration. ``str()`` is safe to log and to store (never a secret)."""

    def __init__(self, provider, message, unreachable=False):
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        # no answer at all (timeout, connection, configuration): the next
        # call to this provider would fail the same way
        self.unreachable = unreachable


@dataclass
class IdentityStatus:
    """What a provider says about a domain identity.

    ``records`` are the provider's own DNS records to publish (DKIM,
    ownership TXT), as ``{"type", "rrtype", "name", "value", "priority"}``;
    None when this answer does not tell them (keep the stored ones).
    ``exists`` is False when the provider does not know the domain."""

    verification: str = NOT_STARTED
    dkim: str = NOT_STARTED
    records: list | None = None
    exists: bool = True
    # this domain's own failure in a batch that otherwise answered
    error: ProviderError | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class SmtpCredential:
    """An SMTP login at the provider. ``password`` is set only when the
    credential was just created (the provider shows it once)."""

    login: str
    password: str | None = None
    created: bool = False


class MailProvider:
    """One relay. Subclasses set ``code``, ``name`` and ``spf_include`` and
    implement the methods; every method raises :class:`ProviderError` on
    failure and is idempotent (a repeated call after a timeout is safe)."""

    code = None
    name = None
    # the SPF mechanism that lets the relay send for a domain
    spf_include = None
    # SMTP credentials per domain (Mailgun) or one for the account (SES)
    per_domain_smtp_credentials = False
    # bounce and complaint notifications are pointed at an SNS topic per
    # identity (SES): see set_notification_topic
    notification_topics = False

    def start_verification(self, domain_name):
        """Create (or reuse) the domain's own identity and start its
        verification; answers an :class:`IdentityStatus` with the records."""
        raise NotImplementedError

    def get_statuses(self, domain_names):
        """``{name: IdentityStatus}`` for these domains, asking the provider
        in as few calls as it allows."""
        raise NotImplementedError

    def register_subdomain(self, domain_name, parent_name):
        """Make ``domain_name`` send at once with ``parent_name``'s verified
        identity (its DKIM); answers an :class:`IdentityStatus`."""
        raise NotImplementedError

    def ensure_smtp_credential(self, domain_name):
        """The domain's SMTP credential, created only when missing
        (:class:`SmtpCredential`), or None where the provider has none per
        domain."""
        return

    def set_notification_topic(self, domain_name, topic_arn):
        """Point the bounce and complaint notifications of the domain's own
        identity at ``topic_arn`` (idempotent); answers True when it did,
        False where the provider has no such setting."""
        return False

    def delete_domain(self, domain_name):
        """Remove everything set up for the domain at the provider (its
        identity, credentials, webhooks). An unknown domain is no error."""
        raise NotImplementedError

    def cleanup_subdomain(self, domain_name):
        """Remove what ``register_subdomain`` set up for the domain."""
        self.delete_domain(domain_name)


def register_provider(cls):
    """Class decorator: make ``cls`` available under ``cls.code``."""
    _REGISTRY[cls.code] = cls
    return cls


def provider_codes():
    return sorted(_REGISTRY)


def get_provider(code):
    """A new instance of the provider ``code`` (it reads its configuration
    now), or None for no/unknown code."""
    cls = _REGISTRY.get(code or "")
    return cls() if cls else None
