from . import emboux_domain
from . import emboux_mailbox
from . import emboux_alias
from . import mail_server_views
