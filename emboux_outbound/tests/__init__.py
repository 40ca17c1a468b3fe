from . import test_tier
from . import test_outbound_settings
from . import test_inheritance
