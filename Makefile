# schemaop developer entry points. README names two of them: `make dev` and `make test`.
# Everything a fresh machine needs (venv, Python packages, PostgreSQL from Debian,
# control-plane binaries built from the Go module proxy) is installed by these targets.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)/tools
# Each run gets its own pytest temp root: pytest prunes all but the newest three
# under /tmp/pytest-of-$USER, which would delete a long run's live cluster and
# database directories whenever other pytest sessions start meanwhile.
PYTEST = d=$$(mktemp -d /tmp/schemaop-pytest-XXXXXX); rc=0; $(BIN)/pytest --basetemp="$$d" $(1) || rc=$$?; rm -rf "$$d"; exit $$rc

.PHONY: help venv lock testbins realnode-bins image test-realnode dev-intro dev-local lint test test-unit test-integration test-e2e dev dev-down crds manifests chart-lint console-ui bench crash-suite clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s "$$(printf '\t')"

# The runtime dependencies at the versions and hashes of requirements.lock (the
# image installs the same), then the package and the dev tools.
$(BIN)/.installed: pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

venv: $(BIN)/.installed ## create .venv with schemaop and dev tools

lock: ## regenerate requirements.lock (pinned runtime dependencies with hashes) from pyproject.toml
	d=$$(mktemp -d); $(PYTHON) -m venv "$$d" && "$$d/bin/pip" install -q pip-tools \
	  && "$$d/bin/pip-compile" -q --generate-hashes --allow-unsafe --build-deps-for=wheel \
	     --strip-extras --no-emit-index-url --no-emit-find-links \
	     --output-file requirements.lock pyproject.toml; rc=$$?; rm -rf "$$d"; exit $$rc

realnode-bins: testbins ## build kubelet, kube-proxy, kube-scheduler, crictl, pause, CoreDNS for the real node (cached)
	@tools/realnode/build.sh >/dev/null
	@tools/realnode/coredns.sh >/dev/null

image: ## build the schemaop image from the Dockerfile with buildah, on a debootstrap base (cached)
	@tools/realnode/image.sh >/dev/null

test-realnode: venv realnode-bins image ## only the e2e tests on the real node (containerd, kubelet; needs root)
	@$(call PYTEST,tests/realnode)

testbins: ## build kube-apiserver, kube-controller-manager, kubectl, etcd, helm (cached)
	@tools/k8s-testbins/build.sh >/dev/null

# check_artifacts: each shipped artifact with its own ecosystem's tool (GitLab CI schema
# and gitlab-ci-local, promtool, the dashboard's queries, helm lint --strict of every
# values combination, Artifact Hub metadata, the krew manifest, the console's built front
# end against its source); the tools install
# themselves on first use (tools/linttools.py).
lint: venv ## ruff, mypy --strict, import-linter (.importlinter), hadolint, and every shipped artifact checked by its own tool
	$(BIN)/ruff check operator tests tools bench
	$(BIN)/ruff format --check operator tests tools bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/hadolint Dockerfile
	$(BIN)/python tools/check_artifacts.py

# tests/realnode needs the node binaries and the image, built here (cached; a cold build
# prints a line every 30 s), and the machine's one real node: a session queues for it
# while another has it (SCHEMAOP_REALNODE_WAIT seconds at most, default 3600).
test: venv testbins realnode-bins image ## every test: unit, integration (PostgreSQL), e2e (local cluster, real node)
	@$(call PYTEST,tests)

test-unit: venv ## fast pure tests only
	@$(call PYTEST,-m unit tests/unit)

test-integration: venv ## tests on a real PostgreSQL
	@$(call PYTEST,tests/integration)

test-e2e: venv testbins ## tests on the local control plane
	@$(call PYTEST,tests/e2e)

crash-suite: venv testbins ## kill -9 of the migration Job and of the operator at random points, 50+ trials each (TRIALS=, SEED=)
	$(BIN)/python bench/crash/run.py --trials $${TRIALS:-50} $${SEED:+--seed $$SEED}

# The first `make dev` builds everything once (README: cold and warm times);
# each step prints a progress line at least every 30 s.
dev-intro:
	@echo "make dev: builds what is missing (first run: Kubernetes, CoreDNS, the image; cached in ~/.cache/schemaop), then starts it all"

dev: dev-intro venv testbins realnode-bins image ## PostgreSQL, the local cluster on a real node, the operator from the chart; prints how to reach them (root)
	$(BIN)/python -m devenv.dev up

dev-local: venv testbins ## like dev, without root or image: the pod runner, the operator as a local process
	SCHEMAOP_DEV_NODE=podrunner $(BIN)/python -m devenv.dev up

dev-down: ## stop everything `make dev` started
	@test ! -x $(BIN)/python || $(BIN)/python -m devenv.dev down

crds: venv ## generate crds/ (and the package's copy of schemas/) from schemas/
	$(BIN)/python tools/gen_crds.py

manifests: crds testbins ## chart CRD templates, manifests/install.yaml, alert rules file (from crds/ and the chart)
	$(BIN)/python tools/render_manifests.py --helm "$$(tools/k8s-testbins/build.sh)/helm"

# The console's front end: npm ci from operator/schemaop/console/frontend/package-lock.json,
# then its build into operator/schemaop/console/static (committed; `make lint` checks it
# is current).
console-ui: venv ## build the console's front end into operator/schemaop/console/static (commit the result)
	$(BIN)/python tools/console_ui.py build

chart-lint: venv testbins ## helm lint --strict of both charts with every values combination the tests use
	$(BIN)/python tools/check_artifacts.py chart

clean: dev-down
	rm -rf .dev .pytest_cache .mypy_cache .ruff_cache
