from .health import router as health_router
from .domains import router as domains_router
from .users import router as users_router
from .aliases import router as aliases_router
from .tenancy import keys_router, tenants_router

ROUTERS = [
    health_router,
    domains_router,
    users_router,
    aliases_router,
    keys_router,
    tenants_router,
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
]
