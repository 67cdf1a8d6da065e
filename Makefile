# Preflight. `make demo` serves the portal on embedded defaults; `make test` runs
# everything CI runs. Both install what they need first (the demo only what runs it).
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
# The install targets below sync the environment; `uv run` must not sync it again (it would
# add the development tools to the demo's runtime-only install).
RUN := $(UV) run --frozen --no-sync
PORT ?= 8000

# Tests run against PostgreSQL; the suite creates (and reuses) test_preflight.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/preflight
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: help install install-runtime audit demo test test-fast lint typecheck check-migrations pytest system-packages stack deploy-check bench-evidence bench-dashboard bench-pages bench-history load-test clean

help:
	@echo "make demo    serve the portal at http://127.0.0.1:$(PORT) (SQLite, tasks in-process)"
	@echo "make test    lint, type-check, check migrations, audit dependencies, run all the tests"
	@echo "make test-fast  the tests without browser and stack, in parallel (the inner loop)"
	@echo "make stack   run web, worker and beat natively against PostgreSQL and Redis"

# uv is bootstrapped with pip when the machine has none.
$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

# Two installs: what the portal needs to run (`make demo`: the runtime dependencies and
# USWDS and htmx), and everything (`make test`: the development group and axe-core too).
# The runtime sync is --inexact so that it never removes the tools a full install added;
# the full install includes the runtime, so it marks both done. npm ci starts afresh each
# time, taking both of its marks (our own files: npm writes .package-lock.json itself).
.venv/.synced-runtime: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --no-dev --inexact
	@touch $@

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@ .venv/.synced-runtime

node_modules/.preflight-runtime: package.json package-lock.json
	npm ci --omit=dev --no-audit --no-fund
	@touch $@

node_modules/.preflight-all: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@ node_modules/.preflight-runtime

install-runtime: .venv/.synced-runtime node_modules/.preflight-runtime

install: .venv/.synced node_modules/.preflight-all

# Debian packages some tests run for real: Chromium for the browser tests (Playwright
# never downloads browsers here), Prometheus and Alertmanager for the alerting checks.
# One apt-get update, only when something is missing.
# Each package installs a command of its own name.
SYSTEM_PACKAGES := chromium prometheus prometheus-alertmanager
system-packages:
	@missing=""; for package in $(SYSTEM_PACKAGES); do \
	  command -v "$$package" >/dev/null 2>&1 || missing="$$missing $$package"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages for the tests:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    $$missing >/dev/null; fi

# The demo checks itself before it serves: its own /readyz and pages over loopback, and
# its own repository (this clone) over file://. Its console shows plain-text log lines.
demo: export CHECK_ALLOWED_NETWORKS ?= 127.0.0.0/8,::1/128
demo: export CHECK_GIT_PROTOCOLS ?= https,file
demo: export LOG_FORMAT ?= text
demo: install-runtime
	$(RUN) python manage.py migrate --noinput
	$(RUN) python manage.py load_builtin_checklists
	$(RUN) python manage.py demo_setup --port $(PORT)
	$(RUN) python manage.py runserver 127.0.0.1:$(PORT)

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: install
	$(RUN) mypy .

check-migrations: install
	$(RUN) python manage.py makemigrations --check --dry-run

# The suite in two runs: everything but the browser and stack tests spread over the CPUs
# (as test-fast does), then those, which start servers and browsers of their own, one at
# a time. Both always run; either failing fails the target.
TEST_WORKERS ?= 2
pytest: install system-packages
	@status=0; \
	DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) $(RUN) pytest \
	  -n $(TEST_WORKERS) -m "not browser and not stack" $(PYTEST_ARGS) || status=1; \
	DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) $(RUN) pytest \
	  -m "browser or stack" $(PYTEST_ARGS) || status=1; \
	exit $$status

# Known vulnerabilities in the locked packages (all groups), from PyPI's vulnerability
# data or else OSV's; skipped with a message, not failed, when neither can be reached.
AUDIT_TIMEOUT ?= 120
AUDIT_SERVICE ?= pypi,osv
audit: .venv/.synced
	UV=$(UV) $(RUN) python scripts/audit_dependencies.py --service $(AUDIT_SERVICE) --timeout $(AUDIT_TIMEOUT)

test: lint typecheck check-migrations audit pytest

# The inner loop: pytest only, without the browser and stack tests, spread over the CPUs by
# pytest-xdist. Each worker gets its own test database (test_preflight_gw0, _gw1, ...,
# reused like test_preflight); Celery tests each use a queue of their own on the one Redis.
# `make test` stays the whole suite, as CI runs it.
FAST_WORKERS ?= auto
test-fast: install system-packages
	DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) $(RUN) pytest \
	  -n $(FAST_WORKERS) -m "not browser and not stack" $(PYTEST_ARGS)

# The production processes, natively, against local PostgreSQL and Redis (see README).
stack: install
	$(RUN) python manage.py migrate --noinput
	$(RUN) python manage.py load_builtin_checklists
	$(RUN) python manage.py collectstatic --noinput
	$(RUN) honcho start

# One sweep of BENCH_SERVICES x BENCH_CHECKS HTTP checks (200 ms each) through a real
# Celery worker on Redis, against a scratch PostgreSQL database; prints the speed-up.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/preflight_bench
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/14
BENCH_SERVICES ?= 200
BENCH_CHECKS ?= 10
bench-evidence: install
	$(RUN) python scripts/ensure_database.py $(BENCH_DATABASE_URL)
	DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(RUN) python manage.py migrate --noinput -v0
	DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) LOG_LEVEL=warning $(RUN) python manage.py bench_evidence --services $(BENCH_SERVICES) --checks $(BENCH_CHECKS)

# The portfolio at 50 and at 5,000 services (page, heat map, CSV, throughput under
# gunicorn against /healthz), on a scratch database made afresh; wrk drives the load.
DASHBOARD_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/preflight_bench_dashboard
DASHBOARD_REDIS_URL ?= redis://127.0.0.1:6379/13
bench-dashboard: install
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null)
	$(RUN) python scripts/ensure_database.py $(DASHBOARD_DATABASE_URL) --fresh
	DATABASE_URL=$(DASHBOARD_DATABASE_URL) $(RUN) python manage.py migrate --noinput -v0
	DATABASE_URL=$(DASHBOARD_DATABASE_URL) REDIS_URL=$(DASHBOARD_REDIS_URL) LOG_LEVEL=warning $(RUN) python manage.py bench_dashboard

# The pages people live in: the reviewer queue and My services at 50 and at 5,000
# services, the review page at Preflight's own 57 items and at 1,000, and the 57-item
# page's throughput under gunicorn against /healthz; on a scratch database made afresh.
PAGES_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/preflight_bench_pages
PAGES_REDIS_URL ?= redis://127.0.0.1:6379/11
bench-pages: install
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null)
	$(RUN) python scripts/ensure_database.py $(PAGES_DATABASE_URL) --fresh
	DATABASE_URL=$(PAGES_DATABASE_URL) $(RUN) python manage.py migrate --noinput -v0
	DATABASE_URL=$(PAGES_DATABASE_URL) REDIS_URL=$(PAGES_REDIS_URL) LOG_LEVEL=warning $(RUN) python manage.py bench_pages

# The shared record at 2,000 and at 2,000,000 lines (the feed's first page, a page 100,000
# lines deep, one person's page, a busy service's timeline), on a scratch database made
# afresh; the lines are written by PostgreSQL (generate_series).
HISTORY_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/preflight_bench_history
HISTORY_REDIS_URL ?= redis://127.0.0.1:6379/12
bench-history: install
	$(RUN) python scripts/ensure_database.py $(HISTORY_DATABASE_URL) --fresh
	DATABASE_URL=$(HISTORY_DATABASE_URL) $(RUN) python manage.py migrate --noinput -v0
	DATABASE_URL=$(HISTORY_DATABASE_URL) REDIS_URL=$(HISTORY_REDIS_URL) LOG_LEVEL=warning $(RUN) python manage.py bench_history

# Every demo role's main pages at once for 30 s (LOAD_SECONDS) against gunicorn on
# loopback, the portfolio seeded to 5,000 services (LOAD_SERVICES), on a scratch database
# made afresh; p50 and p95 per page, requests/s, and it fails on any error.
LOAD_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/preflight_load
LOAD_REDIS_URL ?= redis://127.0.0.1:6379/4
LOAD_SERVICES ?= 5000
LOAD_SECONDS ?= 30
load-test: install
	$(RUN) python scripts/ensure_database.py $(LOAD_DATABASE_URL) --fresh
	DATABASE_URL=$(LOAD_DATABASE_URL) $(RUN) python manage.py migrate --noinput -v0
	DATABASE_URL=$(LOAD_DATABASE_URL) REDIS_URL=$(LOAD_REDIS_URL) LOG_LEVEL=warning $(RUN) python manage.py load_test --services $(LOAD_SERVICES) --seconds $(LOAD_SECONDS)

deploy-check: install
	$(RUN) python manage.py check --deploy --fail-level WARNING

clean:
	rm -rf .venv .tools node_modules staticfiles .mypy_cache .ruff_cache
