from . import emboux_outbound_tier
from . import emboux_domain
