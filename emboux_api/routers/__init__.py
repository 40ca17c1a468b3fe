from .health import router as health_router
from .domains import router as domains_router
from .users import router as users_router
from .aliases import router as aliases_router
from .tenancy import keys_router, tenants_router
from .providers import router as providers_router
from .outbound import decision_router, router as outbound_router
from .suppression import router as suppression_router
from .dns import router as dns_router
from .webhooks import router as webhooks_router

ROUTERS = [
    health_router,
    decision_router,  # the hot path first (routers/outbound.py)
    domains_router,
    users_router,
    aliases_router,
    keys_router,
    tenants_router,
    providers_router,
    outbound_router,
    suppression_router,
    dns_router,
    webhooks_router,
]

TAGS_METADATA = [
    {"name": "health", "description": "Liveness of the API and its database (public)."},
    {"name": "domains", "description": "Hosted mail domains and their settings."},
    {"name": "users", "description": "Mailboxes (`/users`): storage quota, catch-all."},
    {"name": "aliases", "description": "Aliases and catch-alls (`@domain`)."},
    {
        "name": "api-keys",
        "description": "Customer API keys (master), a key's usage and delta sync.",
    },
    {"name": "tenants", "description": "Tenants: quotas and domain usage (master)."},
    {
        "name": "providers",
        "description": "Mail providers (Mailgun, SES): verification, DKIM, the DNS records "
        "to publish, subdomain registration.",
    },
    {
        "name": "outbound",
        "description": "Outbound sending: limits, counters, warm-up, the send decision of "
        "the policy service, daily and monthly resets.",
    },
    {"name": "suppression", "description": "The suppression list of recipients (master)."},
    {
        "name": "webhooks",
        "description": "Bounce and complaint webhooks of Mailgun and Amazon SES (public: "
        "the provider's signature is the authentication).",
    },
]
