# The fault suite: the release binary under load while PostgreSQL, Redis,
# the webhook receiver and the trace collector fail in turn, plus a killed
# replica and a SIGTERM (crates/app/tests/faults, test support in
# crates/testkit). Included by the root Makefile, which sets SHELL,
# .SHELLFLAGS, CARGO, TEST_DATABASE_URL and TEST_REDIS_URL.

# Where the report (report.md) and the processes' logs go.
FAULTS_DIR ?= $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/faults
FAULTS_BIN ?= $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/release/bulkhead

.PHONY: faults
faults: tool-nextest ## Fault suite under load (release binary); tables in target/faults/report.md
	@command -v redis-server >/dev/null || { echo "make faults needs redis-server (a private one is started)" >&2; exit 1; }
	$(CARGO) build --release --locked -p bulkhead
	rm -rf "$(FAULTS_DIR)"
	mkdir -p "$(FAULTS_DIR)"
	BULKHEAD_BIN="$(FAULTS_BIN)" FAULTS_DIR="$(FAULTS_DIR)" \
		$(CARGO) nextest run -p bulkhead --test faults --profile faults --no-capture
	@echo "report: $(FAULTS_DIR)/report.md"
