#!/usr/bin/env bash
# make policyd: the Postfix policy service (mailserver/policyd/emboux_policyd.py)
# in the foreground on 127.0.0.1:10040, for the database of `make run` (db_name
# of the odoo.conf in use, else emboux); run it beside `make run`. It gives the
# policy role a password (EMBOUX_POLICYD_DB_PASSWORD, else
# emboux_policyd_db_password of the odoo.conf, else a random one kept in
# .run/policyd-db-password, which `make run` then exports too), makes sure the
# role exists with that password and may execute the policy function (an
# `odoo shell` beside the running server), writes .run/policyd.conf (password
# authentication over TCP to this machine's PostgreSQL) and runs the daemon
# with the virtualenv's Python. Ctrl-C stops it. EMBOUX_POLICYD_LISTEN=HOST:PORT
# listens elsewhere.
set -euo pipefail
source "$(dirname "$0")/common.sh"
ensure_postgres

CONF=$(odoo_conf)
DB=$(sed -n 's/^db_name *= *//p' "$CONF")
DB=${DB:-emboux}
if ! psql -d postgres -Atc "select 1 from pg_database where datname='$DB'" | grep -q 1; then
    log "database $DB does not exist (make run creates it)"; exit 1
fi
ROLE=${EMBOUX_POLICYD_DB_ROLE:-$(sed -n 's/^emboux_policyd_db_role *= *//p' "$CONF")}
ROLE=${ROLE:-emboux_policyd}
PASSWORD=${EMBOUX_POLICYD_DB_PASSWORD:-$(sed -n 's/^emboux_policyd_db_password *= *//p' "$CONF")}
if [ -z "$PASSWORD" ]; then
    PASSWORD_FILE=$RUN_DIR/policyd-db-password
    if [ ! -s "$PASSWORD_FILE" ]; then
        (umask 077; "$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))' \
            > "$PASSWORD_FILE")
    fi
    chmod 600 "$PASSWORD_FILE"
    PASSWORD=$(cat "$PASSWORD_FILE")
fi

out=$(EMBOUX_POLICYD_DB_ROLE="$ROLE" EMBOUX_POLICYD_DB_PASSWORD="$PASSWORD" \
    "${ODOO[@]}" shell -c "$CONF" -d "$DB" --no-http --log-level=warn <<'PY'
done = env["emboux.send.decision"]._apply_policyd_grants()
env.cr.commit()
print("EMBOUX_POLICYD", "ready" if done else "not-ready")
PY
)
case "$out" in
    *"EMBOUX_POLICYD ready"*) log "$DB: role $ROLE may execute the policy function (and nothing else)" ;;
    *"EMBOUX_POLICYD not-ready"*)
        log "$DB: role $ROLE not ready: Odoo's database user may not create it (CREATEROLE), or it is refused (see the log above)"; exit 1 ;;
    *) printf '%s\n' "$out" >&2; log "$DB: odoo shell failed"; exit 1 ;;
esac

# a libpq value in single quotes, ' and \ escaped
quote() { local v=${1//\\/\\\\}; printf "'%s'" "${v//\'/\\\'}"; }
LISTEN=${EMBOUX_POLICYD_LISTEN:-127.0.0.1:10040}
PGPORT_USED=$(psql -d postgres -Atc 'show port')
POLICYD_CONF=$RUN_DIR/policyd.conf
(umask 077; cat > "$POLICYD_CONF" <<CONF
# written by make policyd (scripts/policyd.sh); see mailserver/policyd/policyd.conf.example
[policyd]
listen = $LISTEN
dsn = host=127.0.0.1 port=$PGPORT_USED dbname=$(quote "$DB") user=$(quote "$ROLE") password=$(quote "$PASSWORD") connect_timeout=3
pool_size = 8
timeout = 5
on_database_error = defer
log_level = INFO
CONF
)
chmod 600 "$POLICYD_CONF"
cat >&2 <<MSG

  The policy service for database $DB is starting on $LISTEN
    configuration: $POLICYD_CONF
    ask it (any shell):
      bash -c 'exec 3<>/dev/tcp/${LISTEN%:*}/${LISTEN##*:}; printf "request=smtpd_access_policy\\nprotocol_state=RCPT\\nsender=a@example.com\\nrecipient=b@example.org\\n\\n" >&3; head -n1 <&3'
  Ctrl-C stops it.

MSG
exec "$VENV/bin/python" "$TOP/mailserver/policyd/emboux_policyd.py" --config "$POLICYD_CONF"
