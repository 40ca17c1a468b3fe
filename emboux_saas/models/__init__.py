from . import emboux_tenant
from . import emboux_api_key
from . import emboux_deletion_log
from . import emboux_domain
from . import emboux_mailbox
from . import emboux_alias
