#!/usr/bin/env bash
# Install everything the suite needs, idempotently:
#   - Odoo 19 from Debian's odoo-19 package, unpacked into .setup/odoo-root
#     (with the font and JavaScript packages its assets link to);
#   - a virtualenv in .venv that sees that Odoo and has requirements.txt.
# Set ODOO_PYTHONPATH to the folder holding an `odoo` package you already
# have to skip the Debian download.
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
SETUP=$TOP/.setup
ODOO_ROOT=$SETUP/odoo-root
DIST=$ODOO_ROOT/usr/lib/python3/dist-packages
VENV=$TOP/.venv
PY=${PYTHON:-python3}

log() { printf '[setup] %s\n' "$*" >&2; }

# Packages whose files the odoo-19 package links to (fonts, jQuery, underscore).
ASSET_PKGS="fonts-font-awesome fonts-roboto-unhinted fonts-montserrat fonts-inconsolata
fonts-ocr-b libjs-jquery libjs-jquery-form libjs-underscore"

debian_mirror() {
    # The machine's own configured Debian mirror; never hard-coded here.
    local uri
    uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
          | awk '{print $2}' | grep -v security | head -n1 || true)
    if [ -z "$uri" ]; then
        uri=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null \
              | awk '{for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' | head -n1 || true)
    fi
    [ -n "$uri" ] || { log "no Debian mirror found in the apt sources"; exit 1; }
    echo "$uri"
}

install_odoo() {
    if [ -n "${ODOO_PYTHONPATH:-}" ]; then return; fi
    if [ -f "$DIST/odoo/release.py" ]; then return; fi
    log "downloading Odoo 19 from Debian unstable (private apt lists, the machine's apt is untouched)"
    local apt=$SETUP/apt
    mkdir -p "$apt/lists/partial" "$apt/debs"
    # odoo-19 is only in unstable; the assets come from bookworm, whose
    # versions match the paths odoo-19 links to (Font Awesome 4, Inconsolata).
    local mirror
    mirror=$(debian_mirror)
    printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
        "$mirror" unstable "$mirror" bookworm > "$apt/sources.list"
    local opts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o "Dir::Etc::sourceparts=-"
                -o "Dir::State::Lists=$apt/lists" -o "APT::Sandbox::User=root")
    apt-get "${opts[@]}" -qq update
    (
        cd "$apt/debs"
        apt-get "${opts[@]}" -qq download odoo-19/unstable
        for pkg in $ASSET_PKGS; do
            apt-get "${opts[@]}" -qq download "$pkg/bookworm" 2>/dev/null \
                || apt-get "${opts[@]}" -qq download "$pkg"
        done
    )
    rm -rf "$ODOO_ROOT.tmp" && mkdir -p "$ODOO_ROOT.tmp"
    for deb in "$apt"/debs/*.deb; do dpkg-deb -x "$deb" "$ODOO_ROOT.tmp"; done
    rm -rf "$ODOO_ROOT" && mv "$ODOO_ROOT.tmp" "$ODOO_ROOT"
    rm -rf "$apt/debs"
    local broken
    broken=$(find "$ODOO_ROOT" -xtype l | wc -l)
    log "Odoo unpacked into $ODOO_ROOT ($broken dangling links)"
}

install_venv() {
    local stamp=$VENV/.requirements.sha
    local want
    want=$(cat requirements.txt requirements-odoo.txt | sha256sum | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
    [ -x "$VENV/bin/python" ] || { log "creating virtualenv $VENV"; "$PY" -m venv "$VENV"; }
    local site
    site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "${ODOO_PYTHONPATH:-$DIST}" > "$site/emboux-odoo.pth"
    log "installing requirements.txt into the virtualenv"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements.txt 2>&1 \
        | { grep -v "is ignored: it is neither" || true; } >&2
    [ "${PIPESTATUS[0]}" = 0 ] || { log "pip install failed"; exit 1; }
    echo "$want" > "$stamp"
}

# Debian's package leaves out files it cannot ship (debian/copyright,
# Files-Excluded); the asset bundles still list them, so put an empty
# stand-in where one is missing. Only the video-call background blur of
# `mail` needed this one.
fill_excluded_assets() {
    [ -z "${ODOO_PYTHONPATH:-}" ] || return 0
    local f=$DIST/odoo/addons/mail/static/lib/selfie_segmentation/selfie_segmentation.js
    [ -f "$f" ] && return
    mkdir -p "$(dirname "$f")"
    echo "// Left out of Debian's odoo-19 package (Files-Excluded): call background blur is unavailable." > "$f"
}

# A launcher of our own: Odoo re-executes sys.argv[0] (gevent worker,
# restarts), which `python -m odoo` cannot survive.
install_launcher() {
    local launcher=$VENV/bin/odoo
    [ -x "$launcher" ] && return
    printf '#!%s\nfrom odoo.cli.command import main\n\nmain()\n' "$VENV/bin/python" > "$launcher"
    chmod +x "$launcher"
}

install_odoo
fill_excluded_assets
install_venv
install_launcher
log "ready: $("$VENV/bin/python" -c 'import odoo.release as r; print("Odoo", r.version)')"
