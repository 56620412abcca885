# The task runner. CI (.ci/run and .github/) calls these same targets, so a
# green `make lint test` here is a green CI there.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Pinned tool versions, installed on demand by the targets that need them.
SQLX_CLI_VERSION := 0.9.0
NEXTEST_VERSION := 0.9.143

# Local PostgreSQL and Redis (the defaults of a fresh machine and of
# deploy/compose.yaml). Override on the command line or in the environment.
PG_SERVER ?= postgres://postgres@127.0.0.1:5432
REDIS_URL_LOCAL ?= redis://127.0.0.1:6379
# Database used only to check the committed sqlx query data.
SQLX_DATABASE_URL ?= $(PG_SERVER)/bulkhead_sqlx
# Tests create one database per test through this server.
export TEST_DATABASE_URL ?= $(PG_SERVER)/postgres
export TEST_REDIS_URL ?= $(REDIS_URL_LOCAL)

CARGO ?= cargo
COMPOSE ?= docker compose -f deploy/compose.yaml

# Container image, Kubernetes manifests, workflow and supply-chain checks.
include mk/delivery.mk
include mk/fuzz.mk
include mk/template.mk
include mk/faults.mk
include mk/resource.mk

# The tests check the /metrics output with promtool, and the dashboard and
# alerts against a real Prometheus server (both installed on demand).
export PROMTOOL
export PROMETHEUS

# PgBouncer for the transaction-pooling tests: the system's when installed,
# otherwise Debian's package (and the one library a fresh machine lacks)
# unpacked into .tools/pgbouncer, run through a wrapper that finds it.
SYSTEM_PGBOUNCER := $(firstword $(shell command -v pgbouncer 2>/dev/null) $(wildcard /usr/sbin/pgbouncer))
PGBOUNCER ?= $(or $(SYSTEM_PGBOUNCER),$(TOOLS_DIR)/pgbouncer/bin/pgbouncer)
export PGBOUNCER

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.env:
	cp .env.example .env

.PHONY: run
run: .env ## Create the database, migrate and serve on :8080 (settings from .env)
	$(CARGO) run -p bulkhead

.PHONY: migrate
migrate: .env ## Create the database if missing and apply migrations
	$(CARGO) run -p bulkhead -- migrate

.PHONY: build
build: ## Build the release binary (target/release/bulkhead)
	$(CARGO) build --release -p bulkhead

.PHONY: test
test: tool-nextest tool-prometheus tool-pgbouncer ## Run every test (doc tests, then nextest) against local PostgreSQL and Redis
	$(CARGO) test --workspace --doc --quiet
	$(CARGO) nextest run --workspace --all-targets --no-fail-fast

.PHONY: lint
lint: fmt-check clippy sqlx-check delivery-lint ## fmt, clippy -D warnings, sqlx data, Dockerfile, manifests, workflows, licenses

.PHONY: fmt
fmt: ## Format the code
	$(CARGO) fmt --all

.PHONY: fmt-check
fmt-check: ## Check formatting only
	$(CARGO) fmt --all -- --check

.PHONY: clippy
clippy: ## clippy on every target, warnings denied
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: sqlx-db
sqlx-db: tool-sqlx ## Create the database the sqlx check uses, afresh, and migrate it
	@# A scratch database: made anew each time, so a migration that was
	@# removed or rewritten (make drop-example) or another branch's leaves
	@# nothing behind that the migrations no longer know.
	DATABASE_URL=$(SQLX_DATABASE_URL) $(CARGO) sqlx database reset -y --source migrations

.PHONY: sqlx-check
sqlx-check: sqlx-db ## Fail when the committed .sqlx/ query data is stale
	DATABASE_URL=$(SQLX_DATABASE_URL) $(CARGO) sqlx prepare --workspace --check -- --all-targets

.PHONY: prepare
prepare: sqlx-db ## Regenerate .sqlx/ after changing a query or a migration
	DATABASE_URL=$(SQLX_DATABASE_URL) $(CARGO) sqlx prepare --workspace -- --all-targets

.PHONY: bench
bench: ## Benchmark each route against a baseline doing the same work (wrk, pinned cores), then outbox delivery; tables in target/bench/report.md
	bench/run.sh

.PHONY: deps-up
deps-up: ## Start PostgreSQL and Redis in Docker (deploy/compose.yaml)
	$(COMPOSE) up -d --wait

.PHONY: deps-down
deps-down: ## Stop them
	$(COMPOSE) down

.PHONY: clean
clean: ## Remove build output
	$(CARGO) clean

.PHONY: tool-sqlx
tool-sqlx: ## Install the pinned sqlx-cli if missing
	@if [[ "$$($(CARGO) sqlx --version 2>/dev/null)" != *"$(SQLX_CLI_VERSION)"* ]]; then \
		echo "installing sqlx-cli $(SQLX_CLI_VERSION)"; \
		$(CARGO) install sqlx-cli@$(SQLX_CLI_VERSION) --locked --no-default-features --features postgres,rustls; \
	fi

.PHONY: tool-nextest
tool-nextest: ## Install the pinned cargo-nextest if missing
	@if ! $(CARGO) nextest --version >/dev/null 2>&1; then \
		echo "installing cargo-nextest $(NEXTEST_VERSION)"; \
		$(CARGO) install cargo-nextest@$(NEXTEST_VERSION) --locked; \
	fi

.PHONY: tool-pgbouncer
tool-pgbouncer: ## Install PgBouncer (Debian's package) into .tools/pgbouncer unless the system has it
	@if [[ ! -x "$(PGBOUNCER)" ]]; then \
		echo "installing PgBouncer from the pgbouncer Debian package"; \
		root="$(TOOLS_DIR)/pgbouncer/root"; \
		scripts/deb-unpack.sh "$$root" pgbouncer libc-ares2 libevent-2.1-7; \
		mkdir -p "$(TOOLS_DIR)/pgbouncer/bin"; \
		printf '#!/bin/sh\nLD_LIBRARY_PATH="%s/usr/lib/x86_64-linux-gnu$${LD_LIBRARY_PATH:+:$$LD_LIBRARY_PATH}" exec "%s/usr/sbin/pgbouncer" "$$@"\n' \
			"$$root" "$$root" > "$(PGBOUNCER)"; \
		chmod 755 "$(TOOLS_DIR)/pgbouncer" "$(TOOLS_DIR)/pgbouncer/bin" "$(PGBOUNCER)"; \
	fi
	@"$(PGBOUNCER)" --version | head -n1
