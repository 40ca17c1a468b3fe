"""Who made a change, for the staff audit trail (the chatter of domains,
mailboxes, tenants and API keys, see ``models/emboux_audit_mixin.py``).

Odoo records the author of a tracking message (the user of the
environment). The way the change came in is added by the front doors, which
put an :class:`AuditActor` in the context under :data:`ACTOR_KEY`: the REST
API (which key, or the master token: ``emboux_api/dependencies.py``) and the
providers' webhooks. A scheduled action is recognised by the ``cron_id``
Odoo puts in its context, the customer portal by its user.

An :class:`AuditActor` is a server-side object: the context an RPC caller
sends is plain JSON, whose strings are never one, so nobody can make the
audit trail name an actor of their choosing. It is still a ``str`` (its
kind and name), so that a context holding it hashes, compares and
serialises like any other.
"""

ACTOR_KEY = "emboux_actor"

# kinds of actors
ACTOR_MASTER = "master"  # the REST API's master token
ACTOR_API_KEY = "api_key"  # a customer API key (name, prefix)
ACTOR_WEBHOOK = "webhook"  # a provider's webhook (name: the provider)


class AuditActor(str):
    """How a change came in: ``kind`` (one of the ``ACTOR_*``), ``name``
    and ``ref`` (an API key's name and token prefix, a webhook's
    provider)."""

    kind: str
    name: str
    ref: str

    def __new__(cls, kind, name="", ref=""):
        self = super().__new__(cls, f"{kind}:{name}:{ref}")
        self.kind = kind
        self.name = name or ""
        self.ref = ref or ""
        return self

    def __getnewargs__(self):
        return (self.kind, self.name, self.ref)


MASTER_ACTOR = AuditActor(ACTOR_MASTER)


def actor_context(context, actor):
    """``context`` (a mapping) with ``actor`` as the audit trail's actor."""
    return dict(context, **{ACTOR_KEY: actor})
