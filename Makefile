# The two commands: `make run` and `make test`. See README.md.
SHELL := /bin/bash

.PHONY: run test e2e bench setup lint pot clean mailserver-grants policyd

run: ## Install what is missing, create or upgrade the database, start Odoo on :8069
	@bash scripts/run.sh

test: ## Set up, run every addon's tests and tests/ on a throwaway database
	@bash scripts/test.sh

e2e: ## The slow whole-system checks of e2e/ (packaging into a bare Odoo), after make test
	@bash scripts/setup.sh && .venv/bin/python -m pytest -q e2e -p no:cacheprovider

bench: ## Benchmarks on a throwaway database: REST API figures, set-based work at 100,000 domains, retention purge
	@bash scripts/setup.sh && source scripts/common.sh && ensure_postgres && ensure_db_role \
		&& .venv/bin/python bench/run.py \
		&& if [ "$$(id -u)" = 0 ]; then .venv/bin/python bench/purge_bench.py; \
		else echo "retention purge bench skipped: it runs a private Dovecot as root"; fi

mailserver-grants: ## (Re)apply the mail servers' read-only role grants, no restart (EMBOUX_GRANTS_DB=db)
	@bash scripts/mailserver_grants.sh

policyd: ## The Postfix policy service on 127.0.0.1:10040 for the database of make run (run it beside)
	@bash scripts/policyd.sh

lint: ## ruff (.ruff.toml), OCA's pylint-odoo (.pylintrc), the addons' README.md up to date
	@bash scripts/setup.sh && bash scripts/lint.sh

pot: ## Regenerate the addons' translation templates (i18n/*.pot)
	@bash scripts/pot.sh

setup: ## Only install Odoo 19 and the virtualenv
	@bash scripts/setup.sh

clean: ## Remove the local runtime (the database emboux is kept)
	rm -rf .setup .venv .run
