# What each file adds:
# - emboux_tenant: the customers (partner_ref, quotas, counters, technical user).
# - emboux_api_key: their API keys (hashed tokens, expiry, revocation).
# - emboux_deletion_log: what was deleted, for the delta sync.
# - emboux_domain: a domain's tenant, quota slot and wildcard parent (one
#   create, one write).
# - emboux_mailbox, emboux_alias: their per-tenant quotas and ownership.
from . import emboux_tenant
from . import emboux_api_key
from . import emboux_deletion_log
from . import emboux_domain
from . import emboux_mailbox
from . import emboux_alias
