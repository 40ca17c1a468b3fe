#!/bin/sh
# main.cf settings for Postfix as the inbound MX of the Emboux suite.
# Run as root after copying the six *.cf lookup tables to /etc/postfix/emboux/.
# Set POSTCONF="postconf -c /path/to/config_dir" for a second instance.
set -e
: "${POSTCONF:=postconf}"
: "${EMBOUX_MAPS:=/etc/postfix/emboux}"

# Hosted domains, mailboxes and aliases come from the suite's SQL views.
# Hosted domains must not also be listed in mydestination.
$POSTCONF -e "mydestination = localhost"
$POSTCONF -e "virtual_mailbox_domains = pgsql:$EMBOUX_MAPS/virtual_mailbox_domains.cf"
$POSTCONF -e "virtual_mailbox_maps = pgsql:$EMBOUX_MAPS/virtual_mailbox_maps.cf"
$POSTCONF -e "virtual_alias_maps = pgsql:$EMBOUX_MAPS/virtual_alias_maps.cf"

# Submission only (master.cf.notes): the SASL logins that own each envelope
# sender address, for reject_sender_login_mismatch. No port 25 restriction
# reads it.
$POSTCONF -e "smtpd_sender_login_maps = pgsql:$EMBOUX_MAPS/sender_login_maps.cf"

# Dovecot stores the mail: hand it over by LMTP (see master.cf.notes).
$POSTCONF -e "virtual_transport = lmtp:unix:private/dovecot-lmtp"

# Suspended domains: their recipients get "450 4.2.1" at RCPT time. Relay
# control stays in smtpd_relay_restrictions (Postfix's default:
# permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination);
# the lookup only ever answers 4xx, so it can never open a relay.
$POSTCONF -e "smtpd_recipient_restrictions = check_recipient_access pgsql:$EMBOUX_MAPS/recipient_access.cf"

# Unknown recipients of hosted domains are refused at RCPT time (the default).
$POSTCONF -e "smtpd_reject_unlisted_recipient = yes"
