from . import test_auth
from . import test_openapi
from . import test_domains
from . import test_users
from . import test_aliases
from . import test_errors
from . import test_endpoint
from . import test_http
