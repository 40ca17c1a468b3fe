# What each file adds:
# - emboux_audit_mixin: the staff audit trail (chatter, tracked fields, who
#   made a change) of the four models below that inherit it.
# - emboux_tenant: the customers (partner_ref, quotas, counters, technical user).
# - emboux_api_key: their API keys (hashed tokens, expiry, revocation).
# - emboux_deletion_log: what was deleted, for the delta sync.
# - emboux_domain: a domain's tenant, quota slot and wildcard parent (one
#   create, one write).
# - emboux_mailbox, emboux_alias: their per-tenant quotas and ownership.
from . import emboux_audit_mixin
from . import emboux_tenant
from . import emboux_api_key
from . import emboux_deletion_log
from . import emboux_domain
from . import emboux_mailbox
from . import emboux_alias
