# make help lists every target. Settings come from the environment or .env
# (see .env.example): WORKERS=3 make up, or make up WORKERS=3.

.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
# uv from PATH, or one installed into .tools/ on first use.
UV := $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
ENV_FILE := $(wildcard .env)
RUN := $(UV) run --frozen --no-sync $(if $(ENV_FILE),--env-file .env)
# compose where a Docker engine answers, local processes otherwise.
MODE ?= $(shell docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1 && echo compose || echo local)

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

# What running the stack needs: no test or lint tooling. --inexact leaves what
# make install added alone.
.venv/.synced-run: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --no-dev --inexact
	@touch $@

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@ .venv/.synced-run

.PHONY: install
install: .venv/.synced ## Install everything the stack and the tests need into .venv

.PHONY: up
up: .venv/.synced-run ## Run the whole stack (MODE=local|compose, WORKERS=N)
ifeq ($(MODE),compose)
	$(RUN) python -m services.stack compose-up
else
	$(RUN) python -m services.stack up
endif

# MODE given: that stack only; else whichever runs.
.PHONY: down
down: .venv/.synced-run ## Stop the stack, whichever mode runs it; running jobs finish first
	$(RUN) python -m services.stack down --mode $(if $(filter file,$(origin MODE)),any,$(MODE))

# The local stack's while it runs (or with MODE=local), else compose's where it answers.
.PHONY: logs
logs: ## Follow the logs of every service, in either mode
	@if [ -f .run/stack.json ] || [ "$(MODE)" = local ]; then \
	    test -f .run/stack.log || { echo "no local stack has run here yet: make up"; exit 1; }; \
	    tail -n 100 -F .run/stack.log; \
	else docker compose logs -f; fi

.PHONY: images-offline
images-offline: ## Build stand-ins for the base images that no registry serves here (Docker)
	docker/offline/build-images

.PHONY: test
test: install ## Run every test; end-to-end on the local stack and, where Docker answers, on compose
	$(RUN) pytest

.PHONY: test-fast
test-fast: install ## Run the tests that need no full stack
	$(RUN) pytest -m "not e2e"

.PHONY: lint
lint: install ## Check style and formatting
	$(RUN) ruff check .
	$(RUN) ruff format --check .

.PHONY: format
format: install ## Fix formatting and what ruff can fix
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

.PHONY: docs
docs: install ## Write .env.example and the README's settings table from services/settings.py
	$(UV) run --frozen --no-sync python -m services.settings_docs

.PHONY: deploy-files
deploy-files: install ## Write compose.yml, the Swarm stack and the Kubernetes manifests from the topology
	$(UV) run --frozen --no-sync python -m services.stack.deploy_files

# Seconds of each load step of make bench (at 10, the whole run takes about three minutes).
BENCH_SECONDS ?= 10
# The old system's up script, measured beside the stack (default ../shared/seed-system/up).
SEED_SYSTEM ?=

.PHONY: bench
bench: install ## Measure speed and CPU cost on this machine (needs wrk; BENCH_SECONDS=10)
	$(RUN) python -m tests.bench --seconds $(BENCH_SECONDS) $(if $(SEED_SYSTEM),--seed-system $(SEED_SYSTEM))

.PHONY: clean
clean: ## Remove the virtualenvs and runtime state (.run/)
	rm -rf .venv .tools .run .pytest_cache .ruff_cache
