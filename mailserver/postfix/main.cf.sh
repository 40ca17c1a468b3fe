#!/bin/sh
# main.cf settings for Postfix as the inbound MX and the submission server of
# the Emboux suite (../README.md, "A mail host from a bare Debian system").
# Run as root on an existing main.cf (with debconf's "No configuration" there
# is none: start from Debian's template, as the README says), after copying
# the *.cf lookup tables to /etc/postfix/emboux/; then master.cf.sh.
# Set POSTCONF="postconf -c /path/to/config_dir" for a second instance,
# EMBOUX_MAPS=/other/dir when the tables are elsewhere.
set -e
: "${POSTCONF:=postconf}"
: "${EMBOUX_MAPS:=/etc/postfix/emboux}"

# Every table is read through proxymap (proxy:). Debian runs smtpd, cleanup
# and trivial-rewrite chrooted in /var/spool/postfix; proxymap runs outside
# the chroot (master.cf: proxymap ... n) and holds the database connections
# for all of them, so the pgsql client needs nothing inside the chroot and
# the database sees a few connections instead of one per Postfix process.
# Postfix's default proxy_read_maps lists every parameter set here, which
# allows exactly these table names (master.cf.notes).
MAPS="proxy:pgsql:$EMBOUX_MAPS"

# Hosted domains, mailboxes and aliases come from the suite's SQL views.
# Hosted domains must not also be listed in mydestination.
$POSTCONF -e "mydestination = localhost"
$POSTCONF -e "virtual_mailbox_domains = $MAPS/virtual_mailbox_domains.cf"
$POSTCONF -e "virtual_mailbox_maps = $MAPS/virtual_mailbox_maps.cf"
$POSTCONF -e "virtual_alias_maps = $MAPS/virtual_alias_maps.cf"

# Submission only (master.cf.sh): the SASL logins that own each envelope
# sender address, for reject_sender_login_mismatch. No port 25 restriction
# reads it.
$POSTCONF -e "smtpd_sender_login_maps = $MAPS/sender_login_maps.cf"

# Dovecot stores the mail: hand it over by LMTP on the socket Dovecot makes
# inside Postfix's spool (../dovecot/99-emboux.conf), reachable from the
# chrooted lmtp client as private/dovecot-lmtp.
$POSTCONF -e "virtual_transport = lmtp:unix:private/dovecot-lmtp"

# Suspended domains: their recipients get "450 4.2.1" at RCPT time. Relay
# control stays in smtpd_relay_restrictions (Postfix's default:
# permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination);
# the lookup only ever answers 4xx, so it can never open a relay.
$POSTCONF -e "smtpd_recipient_restrictions = check_recipient_access $MAPS/recipient_access.cf"

# Unknown recipients of hosted domains are refused at RCPT time (the default).
$POSTCONF -e "smtpd_reject_unlisted_recipient = yes"

# The outbound policy service of the submission services (master.cf.sh):
# while Postfix cannot reach it, senders get a temporary failure and retry;
# the daemon answers within its own timeout (5 s), well below this one.
$POSTCONF -e "smtpd_policy_service_default_action = 451 4.3.5 Policy service unavailable"
$POSTCONF -e "smtpd_policy_service_timeout = 30s"
