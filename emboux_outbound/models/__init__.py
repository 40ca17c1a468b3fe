# What each file adds (emboux.domain is extended by several files, one per
# feature; only emboux_domain.py overrides its create and write):
# - emboux_outbound_tier: the outbound tiers (daily and monthly limits).
# - emboux_domain: a domain's outbound settings (tier, enforcement, status,
#   provider, verification), their inheritance from the wildcard parent
#   (computed fields and the SQL view), verified_at (computed), the addon's
#   one create and one write, the form buttons' notification.
# - emboux_outbound_counter, _daily, _monthly: the live counters and the
#   sending history the resets file.
# - emboux_outbound_event: the replay guard of counted events.
# - emboux_suppression: the suppression list.
# - emboux_domain_sending: limits, warm-up, spike, the send decision, the
#   reputation rates, the usage figures, the pause and resume buttons.
# - emboux_send_decision: the SQL functions of the send decision.
# - emboux_webhook_event: Mailgun and SES (SNS) feedback.
# - emboux_domain_provider_record: a DNS record a provider asks for.
# - emboux_domain_provider: the domain at its provider (identity,
#   verification, DKIM, subdomain registration, SMTP credential, SES
#   feedback topic), the DNS records to publish and their check, the
#   verify/refresh/register actions and their buttons.
# - emboux_domain_provider_sync: the provider work done after the commit
#   (what create, write and activate record) and the polling cron.
# - emboux_domain_provider_change: moving a domain to another provider.
# - res_config_settings: the Settings (default provider, configuration).
# - emboux_outbound_policy: the mail hosts' policy service door.
from . import emboux_outbound_tier
from . import emboux_domain
from . import emboux_outbound_counter
from . import emboux_outbound_daily
from . import emboux_outbound_monthly
from . import emboux_outbound_event
from . import emboux_suppression
from . import emboux_domain_sending
from . import emboux_send_decision
from . import emboux_webhook_event
from . import emboux_domain_provider_record
from . import emboux_domain_provider
from . import emboux_domain_provider_sync
from . import emboux_domain_provider_change
from . import res_config_settings
from . import emboux_outbound_policy
