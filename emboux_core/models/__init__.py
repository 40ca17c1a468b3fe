# What each file adds:
# - emboux_domain: the hosted domains (name, suspension, retention and
#   transfer settings; one create, one write).
# - emboux_domain_retention: the retention purge through Dovecot's doveadm.
# - emboux_mailbox: the mailboxes (address, password hash, quota, catch-all).
# - emboux_mailbox_usage: the storage each mailbox uses, read from Dovecot.
# - emboux_alias: the aliases (source, destination, catch-all).
# - mail_server_views: the SQL views Postfix and Dovecot read, and their role.
from . import emboux_domain
from . import emboux_domain_retention
from . import emboux_mailbox
from . import emboux_mailbox_usage
from . import emboux_alias
from . import mail_server_views
