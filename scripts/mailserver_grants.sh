#!/usr/bin/env bash
# make mailserver-grants: (re)apply the mail servers' read-only role grants
# (CONNECT, USAGE, SELECT on the six views; every other right revoked) and
# recreate a missing view, without restarting Odoo. Run it after creating the
# role by hand (mailserver/README.md). It is an `odoo shell` on the database
# of `make run` (db_name of the odoo.conf in use, else emboux), so it works
# while `make run` serves. EMBOUX_GRANTS_DB=name picks another database.
set -euo pipefail
source "$(dirname "$0")/common.sh"
ensure_postgres

CONF=$(odoo_conf)
DB=$(sed -n 's/^db_name *= *//p' "$CONF")
DB=${EMBOUX_GRANTS_DB:-${DB:-emboux}}
if ! psql -d postgres -Atc "select 1 from pg_database where datname='$DB'" | grep -q 1; then
    log "database $DB does not exist (make run creates it)"; exit 1
fi
out=$("${ODOO[@]}" shell -c "$CONF" -d "$DB" --no-http --log-level=warn <<'PY'
done = env["emboux.mail.server.views"]._apply_mailserver_grants()
env.cr.commit()
print("EMBOUX_GRANTS", "applied" if done else "not-applied")
PY
)
case "$out" in
    *"EMBOUX_GRANTS applied"*) log "$DB: the mail servers' role may read the views (and nothing else)" ;;
    *"EMBOUX_GRANTS not-applied"*)
        log "$DB: no grants applied: the role (emboux_mailserver_db_role / EMBOUX_MAILSERVER_DB_ROLE) does not exist, or is refused (see the log above)"; exit 1 ;;
    *) printf '%s\n' "$out" >&2; log "$DB: odoo shell failed"; exit 1 ;;
esac
