# API fuzzing: `make fuzz` runs schemathesis against the release binary and
# fails on any difference between what /openapi.json says and what the
# service does. Included by the root Makefile, which sets SHELL := bash,
# .SHELLFLAGS := -eu -o pipefail -c, CARGO, PG_SERVER and REDIS_URL_LOCAL;
# TOOLS_DIR comes from mk/delivery.mk.
#
# schemathesis is installed on first use into a venv of its own under
# .tools/, with every package pinned (mk/fuzz-requirements.txt) so that a
# seed draws the same cases on every machine.

SCHEMATHESIS_VERSION := 4.32.5
FUZZ_REQUIREMENTS := mk/fuzz-requirements.txt
FUZZ_VENV := $(TOOLS_DIR)/fuzz-venv
FUZZ_STAMP := $(FUZZ_VENV)/.installed-$(SCHEMATHESIS_VERSION)
FUZZ_PYTHON ?= python3

# A fixed seed makes a run repeatable; FUZZ_SEED=$$RANDOM explores further.
FUZZ_SEED ?= 20261123
# Most examples per operation in the examples, fuzzing and stateful phases
# (the coverage phase derives its own from the schema; the stateful phase
# ends sooner once its scenarios stop finding new paths). 500 makes about
# 2,000 cases, under a minute on two shared cores once the binary is built.
FUZZ_MAX_EXAMPLES ?= 500
# One worker: schemathesis is bound by Python's interpreter lock, so a
# second worker thread adds little, and CPython 3.11 can fail with "AST
# constructor recursion depth mismatch" when two threads build hypothesis
# strategies at once.
FUZZ_WORKERS ?= 1

.PHONY: tool-schemathesis
tool-schemathesis: $(FUZZ_STAMP) ## Install the pinned schemathesis into .tools/fuzz-venv

$(FUZZ_STAMP): $(FUZZ_REQUIREMENTS)
	@echo "installing schemathesis $(SCHEMATHESIS_VERSION) ($(FUZZ_REQUIREMENTS))"
	@grep -qx "schemathesis==$(SCHEMATHESIS_VERSION)" $(FUZZ_REQUIREMENTS) || \
		{ echo "$(FUZZ_REQUIREMENTS) does not pin schemathesis $(SCHEMATHESIS_VERSION)" >&2; exit 1; }
	mkdir -p "$(TOOLS_DIR)"
	rm -rf "$(FUZZ_VENV)"
	$(FUZZ_PYTHON) -m venv "$(FUZZ_VENV)"
	"$(FUZZ_VENV)/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check \
		-r $(FUZZ_REQUIREMENTS)
	touch "$@"

.PHONY: fuzz
fuzz: tool-schemathesis ## Fuzz the release service against its OpenAPI document (schemathesis, every check and phase)
	ST="$(FUZZ_VENV)/bin/st" \
	CARGO="$(CARGO)" \
	PG_SERVER="$(PG_SERVER)" \
	REDIS_URL_LOCAL="$(REDIS_URL_LOCAL)" \
	FUZZ_SEED="$(FUZZ_SEED)" \
	FUZZ_MAX_EXAMPLES="$(FUZZ_MAX_EXAMPLES)" \
	FUZZ_WORKERS="$(FUZZ_WORKERS)" \
		scripts/fuzz.sh
