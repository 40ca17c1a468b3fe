# Shared by the scripts: paths, the Odoo command, PostgreSQL start-up.
# shellcheck shell=bash
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$TOP/.venv
RUN_DIR=$TOP/.run
ODOO=("$VENV/bin/odoo")
mkdir -p "$RUN_DIR"

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }

# The suite's addons: every folder of the repository with a manifest.
suite_addons() {
    local d names=()
    for d in "$TOP"/*/__manifest__.py; do names+=("$(basename "$(dirname "$d")")"); done
    (IFS=,; echo "${names[*]}")
}

# A digest of the addons' files: changes mean the database needs an upgrade.
addons_digest() {
    (cd "$TOP" && find $(suite_addons | tr , ' ') -type f \
        ! -name '*.pyc' ! -path '*/tests/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

ensure_postgres() {
    if pg_isready -q 2>/dev/null; then return; fi
    log "PostgreSQL is down; starting it"
    if command -v pg_ctlcluster >/dev/null; then
        local v
        for v in $(ls /etc/postgresql 2>/dev/null); do
            pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
        done
    fi
    local i
    for i in $(seq 1 30); do pg_isready -q && return; sleep 1; done
    log "PostgreSQL did not come up"; exit 1
}

# Odoo connects as the current system user over the local socket.
ensure_db_role() {
    if psql -d postgres -Atc 'select 1' >/dev/null 2>&1; then return; fi
    log "creating PostgreSQL role $(id -un)"
    su postgres -c "createuser --superuser $(id -un)"
}

# The odoo.conf in use: ./odoo.conf when the user made one, else one made
# from odoo.conf.example with this checkout's addons path and random master
# and policy tokens, kept from the previous file when it had them.
odoo_conf() {
    if [ -f "$TOP/odoo.conf" ]; then echo "$TOP/odoo.conf"; return; fi
    local conf=$RUN_DIR/odoo.conf
    if [ ! -f "$conf" ] || [ "$TOP/odoo.conf.example" -nt "$conf" ]; then
        local token policy_token
        token=$(sed -n 's/^emboux_master_token *= *//p' "$conf" 2>/dev/null || true)
        [ -n "$token" ] || token=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))')
        policy_token=$(sed -n 's/^emboux_policy_token *= *//p' "$conf" 2>/dev/null || true)
        [ -n "$policy_token" ] \
            || policy_token=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))')
        sed -e "s|^addons_path *=.*|addons_path = $TOP|" \
            -e "s|^emboux_master_token *=.*|emboux_master_token = $token|" \
            -e "s|^emboux_policy_token *=.*|emboux_policy_token = $policy_token|" \
            -e "s|^data_dir *=.*|data_dir = $RUN_DIR/data|" \
            "$TOP/odoo.conf.example" > "$conf"
    fi
    echo "$conf"
}
