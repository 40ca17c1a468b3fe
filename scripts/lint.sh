#!/usr/bin/env bash
# make lint (and the lint step of make test): ruff check and format check
# (.ruff.toml), OCA's pylint-odoo on the addons (.pylintrc, zero messages),
# and each addon's README.md generated from its readme/ fragments.
set -uo pipefail
source "$(dirname "$0")/common.sh"
cd "$TOP" || exit 1
rc=0
"$VENV/bin/ruff" check -q . || rc=1
"$VENV/bin/ruff" format --check -q . || rc=1
# emboux.domain is extended by one file per feature in emboux_outbound
# (sending, provider, provider change, provider sync), each said in its
# models/__init__.py; create and write are overridden once per addon
# (emboux_outbound/tests/test_structure.py): so no "consider merging".
"$VENV/bin/pylint" --rcfile=.pylintrc --disable=consider-merging-classes-inherited \
    $(suite_addons | tr , ' ') || rc=1
"$VENV/bin/python" scripts/gen_readme.py --check || rc=1
exit $rc
