#!/usr/bin/env bash
# make run: set up, create or upgrade the database, start Odoo on :8069.
set -euo pipefail
source "$(dirname "$0")/common.sh"
bash "$TOP/scripts/setup.sh"
ensure_postgres
ensure_db_role

CONF=$(odoo_conf)
# the policy service's role keeps the password make policyd gave it (scripts/policyd.sh)
if [ -z "${EMBOUX_POLICYD_DB_PASSWORD:-}" ] && [ -s "$RUN_DIR/policyd-db-password" ] \
    && ! grep -qE '^emboux_policyd_db_password *= *[^ ]' "$CONF"; then
    export EMBOUX_POLICYD_DB_PASSWORD="$(cat "$RUN_DIR/policyd-db-password")"
fi
DB=$(sed -n 's/^db_name *= *//p' "$CONF")
DB=${DB:-emboux}
ADDONS=$(suite_addons)
digest=$(addons_digest)
stamp=$RUN_DIR/$DB.addons.sha

if ! psql -d postgres -Atc "select 1 from pg_database where datname='$DB'" | grep -q 1; then
    log "creating database $DB with $ADDONS"
    "${ODOO[@]}" -c "$CONF" -d "$DB" -i "$ADDONS" --stop-after-init --no-http --workers=0
    echo "$digest" > "$stamp"
elif [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    log "addons changed: upgrading $DB"
    "${ODOO[@]}" -c "$CONF" -d "$DB" -i "$ADDONS" -u "$ADDONS" --stop-after-init --no-http --workers=0
    echo "$digest" > "$stamp"
fi

PORT=$(sed -n 's/^http_port *= *//p' "$CONF"); PORT=${PORT:-8069}
PREFIX=${EMBOUX_API_PREFIX:-$(sed -n 's/^emboux_api_prefix *= *//p' "$CONF")}
PREFIX=${PREFIX:-/api}
if [ -n "${EMBOUX_MASTER_TOKEN:-}" ]; then TOKEN_FROM="EMBOUX_MASTER_TOKEN"; else TOKEN_FROM="emboux_master_token in $CONF"; fi
cat >&2 <<MSG

  Emboux is starting on http://localhost:$PORT
    staff login : admin / admin   (http://localhost:$PORT/odoo)
    REST API    : http://localhost:$PORT$PREFIX   (docs: $PREFIX/docs)
    master token: $TOKEN_FROM
  Ctrl-C stops it.

MSG
exec "${ODOO[@]}" -c "$CONF" -d "$DB"
