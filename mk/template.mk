# This repository is also a cargo-generate template (cargo-generate.toml,
# template/). Included by the root Makefile, which sets SHELL := bash,
# .SHELLFLAGS := -eu -o pipefail -c, CARGO, PG_SERVER and REDIS_URL_LOCAL;
# TOOLS_DIR comes from mk/delivery.mk. A generated project has neither
# this file nor its include line.

CARGO_GENERATE_VERSION := 0.23.7
CARGO_GENERATE := $(TOOLS_DIR)/cargo/bin/cargo-generate

# The name of the project `make template-test` generates. A dash exercises
# both spellings of the name: kebab-case (package, binary, Kubernetes,
# image) and snake_case (databases).
TEMPLATE_TEST_NAME ?= order-service
# Where it is generated, in a folder of its name, replaced at each run and
# kept afterwards for a look. A fixed place keeps the generated crates'
# paths, so their build output in the shared target directory is replaced at
# each run instead of piling up.
TEMPLATE_TEST_DIR ?= $(CURDIR)/target/template-test
# The generated project builds in a target directory of its own, seeded
# with hard links to the dependencies this workspace compiled: only its own
# crates compile (see scripts/template-test.sh for why it cannot share).
TEMPLATE_SEED_TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
TEMPLATE_TEST_TARGET_DIR ?= $(TEMPLATE_SEED_TARGET_DIR)/template-test-target

.PHONY: tool-cargo-generate
tool-cargo-generate: ## Install the pinned cargo-generate into .tools/cargo
	@if [[ "$$("$(CARGO_GENERATE)" generate --version 2>/dev/null)" != *" $(CARGO_GENERATE_VERSION)" ]]; then \
		echo "installing cargo-generate $(CARGO_GENERATE_VERSION)"; \
		tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
		$(CARGO) install cargo-generate@$(CARGO_GENERATE_VERSION) --locked \
			--root "$(TOOLS_DIR)/cargo" --target-dir "$$tmp"; \
	fi

.PHONY: template-test
template-test: tool-cargo-generate ## Generate a project (TEMPLATE_TEST_NAME) from the working tree; check its names; run its make lint and make test
	CARGO_GENERATE="$(CARGO_GENERATE)" \
	TEMPLATE_TEST_NAME="$(TEMPLATE_TEST_NAME)" \
	TEMPLATE_TEST_DIR="$(TEMPLATE_TEST_DIR)" \
	CARGO_TARGET_DIR="$(TEMPLATE_TEST_TARGET_DIR)" \
	SEED_TARGET_DIR="$(TEMPLATE_SEED_TARGET_DIR)" \
	TOOLS_DIR="$(TOOLS_DIR)" \
	PG_SERVER="$(PG_SERVER)" \
	REDIS_URL_LOCAL="$(REDIS_URL_LOCAL)" \
		scripts/template-test.sh
