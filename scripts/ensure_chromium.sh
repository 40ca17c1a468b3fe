#!/usr/bin/env bash
# Debian's chromium for the browser tests (tours): Odoo's test browser looks
# for google-chrome, chromium, chromium-browser on the PATH. Idempotent and
# quiet; installs only when missing (apt lists refreshed only if needed).
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
export DEBIAN_FRONTEND=noninteractive
echo "[ensure_chromium] installing Debian's chromium" >&2
apt-get install -y -qq chromium >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null; }
command -v chromium >/dev/null 2>&1
