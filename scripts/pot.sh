#!/usr/bin/env bash
# make pot: regenerate every addon's i18n/<addon>.pot from a throwaway
# database with the suite installed.
set -euo pipefail
source "$(dirname "$0")/common.sh"
bash "$TOP/scripts/setup.sh"
ensure_postgres
ensure_db_role
DB=emboux_pot_$$
trap 'dropdb --if-exists "$DB" >/dev/null 2>&1 || true' EXIT
ADDONS=$(suite_addons)
"${ODOO[@]}" --addons-path="$TOP" -d "$DB" -i "$ADDONS" --stop-after-init --no-http --workers=0 \
    --log-level=warn
"${ODOO[@]}" --addons-path="$TOP" i18n export -d "$DB" $(tr , ' ' <<<"$ADDONS")
log "templates written: $(ls "$TOP"/*/i18n/*.pot | tr '\n' ' ')"
