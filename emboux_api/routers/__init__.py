from .health import router as health_router
from .domains import router as domains_router
from .users import router as users_router
from .aliases import router as aliases_router

ROUTERS = [health_router, domains_router, users_router, aliases_router]

TAGS_METADATA = [
    {"name": "health", "description": "Liveness of the API and its database (public)."},
    {"name": "domains", "description": "Hosted mail domains and their settings."},
    {"name": "users", "description": "Mailboxes (`/users`): storage quota, catch-all."},
    {"name": "aliases", "description": "Aliases and catch-alls (`@domain`)."},
]
