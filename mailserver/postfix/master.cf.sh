#!/bin/sh
# master.cf services of the Emboux suite: submission (587, STARTTLS) and
# submissions (465, implicit TLS) for the mailboxes, with SASL logins
# answered by Dovecot and the outbound policy service. master.cf.notes says
# why each line is there. Run as root after main.cf.sh, with the same
# POSTCONF and EMBOUX_MAPS; EMBOUX_POLICY=inet:HOST:PORT when the policy
# service (../policyd/) listens elsewhere than Debian's default below.
# Each run writes the two entries whole (postconf -M drops their old -o
# lines); Debian's commented-out examples of them stay as they are.
set -e
: "${POSTCONF:=postconf}"
: "${EMBOUX_MAPS:=/etc/postfix/emboux}"
: "${EMBOUX_POLICY:=inet:127.0.0.1:10040}"

for service in submission submissions; do
    if [ "$service" = submission ]; then
        tls=smtpd_tls_security_level=encrypt # 587: STARTTLS before anything else
    else
        tls=smtpd_tls_wrappermode=yes # 465: TLS from the first byte
    fi
    # chrooted (y), as Debian's own lines for these services
    $POSTCONF -Me "$service/inet = $service inet n - y - - smtpd"
    for option in \
        "syslog_name=postfix/$service" \
        "$tls" \
        smtpd_tls_auth_only=yes \
        smtpd_sasl_auth_enable=yes \
        smtpd_sasl_type=dovecot \
        smtpd_sasl_path=private/auth \
        smtpd_client_restrictions=permit_sasl_authenticated,reject \
        smtpd_helo_restrictions= \
        smtpd_sender_restrictions=reject_sender_login_mismatch \
        smtpd_relay_restrictions=permit_sasl_authenticated,reject \
        "smtpd_recipient_restrictions=check_recipient_access,proxy:pgsql:$EMBOUX_MAPS/recipient_access.cf,check_policy_service,$EMBOUX_POLICY" \
        "smtpd_end_of_data_restrictions=check_policy_service,$EMBOUX_POLICY" \
        milter_macro_daemon_name=ORIGINATING; do
        $POSTCONF -P "$service/inet/$option"
    done
done
