#!/usr/bin/env bash
# make test: set up, install the suite on a throwaway database with its
# tests, run the top-level tests/ too, exit non-zero on any failure.
set -uo pipefail
source "$(dirname "$0")/common.sh"
set -e
bash "$TOP/scripts/setup.sh"
bash "$TOP/scripts/ensure_chromium.sh"  # the browser of the portal tour
ensure_postgres
ensure_db_role
set +e

# The live tests' installs (tests/conftest.py: the suite, and emboux_outbound
# alone for tests/test_policyd.py), started now in the background: they run
# while the lint does, and pytest copies them.
EMBOUX_LIVE_TEMPLATES_DIR=$RUN_DIR/templates-$$
export EMBOUX_LIVE_TEMPLATES_DIR
drop_templates() {
    "$VENV/bin/python" "$TOP/tests/live_odoo.py" drop "$EMBOUX_LIVE_TEMPLATES_DIR" >/dev/null 2>&1 || true
}
trap drop_templates EXIT
"$VENV/bin/python" "$TOP/tests/live_odoo.py" prebuild "$EMBOUX_LIVE_TEMPLATES_DIR" \
    "$(suite_addons)" emboux_outbound

lint_failed=0
log "lint: ruff check, ruff format --check, pylint-odoo, the addons' README.md"
if ! bash "$TOP/scripts/lint.sh"; then
    lint_failed=1
fi

DB=emboux_test_$$
PORT=${EMBOUX_TEST_PORT:-8169}
LOG=$RUN_DIR/$DB-odoo.log
ADDONS=$(suite_addons)
# This run's secrets, random (a fixed literal would prove nothing when the
# logs are searched for it): the Odoo tests and pytest read them from the
# environment. EMBOUX_TEST_SECRET is a marker the tests use where a secret
# of their own goes through the code (a mailbox password, the mail servers'
# role password). At the end both logs are searched for each of them.
random_secret() { "$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(24))'; }
EMBOUX_MASTER_TOKEN="master-$(random_secret)"
EMBOUX_POLICY_TOKEN="policy-$(random_secret)"
EMBOUX_TEST_SECRET="marker-$(random_secret)"
export EMBOUX_MASTER_TOKEN EMBOUX_POLICY_TOKEN EMBOUX_TEST_SECRET
SECRETS=(EMBOUX_MASTER_TOKEN EMBOUX_POLICY_TOKEN EMBOUX_TEST_SECRET)
cleanup() { dropdb --if-exists "$DB" >/dev/null 2>&1 || true; drop_templates; }
trap cleanup EXIT

TAGS=$(echo "$ADDONS" | sed 's/\([^,]*\)/\/\1/g')
log "Odoo tests of $ADDONS on database $DB (log: $LOG)"
"${ODOO[@]}" -d "$DB" --addons-path="$TOP" -i "$ADDONS" --test-enable --test-tags "$TAGS" \
    --stop-after-init --workers=0 --http-port="$PORT" \
    --data-dir="$RUN_DIR/test-data" --screenshots="$RUN_DIR/screenshots" --log-level=test 2>&1 | tee "$LOG" \
    | grep -E '(ERROR|FAIL|CRITICAL|error\(s\) of)' || true
odoo_rc=${PIPESTATUS[0]}

# Odoo's summary: "N failed, N error(s) of N tests when loading database"
summary=$(grep -E 'error\(s\) of [0-9]+ tests' "$LOG" | tail -n1)
total=$(sed -E 's/.* of ([0-9]+) tests.*/\1/' <<<"$summary")
read -r f_n e_n < <(sed -E 's/.*: ([0-9]+) failed, ([0-9]+) error.*/\1 \2/' <<<"$summary")
failed=$(( ${f_n:-0} + ${e_n:-0} ))
errors_in_log=$(grep -cE ' (ERROR|CRITICAL) ' "$LOG")
total=${total:-0}; failed=${failed:-0}
if [ "$odoo_rc" != 0 ] || [ "$errors_in_log" != 0 ]; then [ "$failed" = 0 ] && failed=1; fi

py_passed=0; py_failed=0
if compgen -G "$TOP/tests/test_*.py" >/dev/null; then
    log "top-level tests/ (pytest)"
    "$VENV/bin/python" -m pytest -q "$TOP/tests" -p no:cacheprovider 2>&1 | tee "$RUN_DIR/$DB-pytest.log"
    py_rc=${PIPESTATUS[0]}
    py_passed=$(grep -oE '[0-9]+ passed' "$RUN_DIR/$DB-pytest.log" | tail -n1 | cut -d' ' -f1)
    py_failed=$(grep -oE '[0-9]+ (failed|error)' "$RUN_DIR/$DB-pytest.log" | awk '{s+=$1} END {print s+0}')
    py_passed=${py_passed:-0}
    if [ "$py_rc" != 0 ] && [ "$py_failed" = 0 ]; then py_failed=1; fi
fi

# No secret in any log: each configured secret, and any whole API token
# (emb_ + 43 characters; the logs show a 12-character prefix). The line
# names the secret, never its value.
secrets_failed=0
for logfile in "$LOG" "$RUN_DIR/$DB-pytest.log"; do
    [ -f "$logfile" ] || continue
    for name in "${SECRETS[@]}"; do
        if grep -qF -- "${!name}" "$logfile"; then
            echo "secret leak: the value of $name appears in $logfile"
            secrets_failed=1
        fi
    done
    if grep -qE 'emb_[A-Za-z0-9_-]{43}' "$logfile"; then
        echo "secret leak: a whole API token (emb_ + 43 characters) appears in $logfile"
        secrets_failed=1
    fi
done

passed=$(( total - failed + py_passed + 2 - lint_failed - secrets_failed )); [ "$passed" -lt 0 ] && passed=0
echo "Odoo: $summary (exit $odoo_rc, $errors_in_log error lines)"
[ "$lint_failed" = 0 ] || echo "lint: failed (make lint shows why)"
[ "$secrets_failed" = 0 ] || echo "secrets: found in a log (see above)"
echo "tests: $passed passed, $(( failed + py_failed + lint_failed + secrets_failed )) failed"
if [ "$total" = 0 ] || [ "$failed" != 0 ] || [ "$py_failed" != 0 ] || [ "$lint_failed" != 0 ] \
    || [ "$secrets_failed" != 0 ]; then
    log "logs kept: $LOG $RUN_DIR/$DB-pytest.log"
    exit 1
fi
rm -f "$LOG" "$RUN_DIR/$DB-pytest.log"
