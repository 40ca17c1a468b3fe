from . import test_domain
from . import test_mailbox
from . import test_alias
from . import test_mail_server_views
from . import test_backend_tour
from . import test_retention
from . import test_usage
from . import test_unique
