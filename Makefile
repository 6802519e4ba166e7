# sf-user-pipeline build. `make run` and `make test` each install what they need.
SHELL := /bin/bash
# node_modules in two steps: the packages' files (npm ci --ignore-scripts), then their install
# scripts (npm rebuild: better-sqlite3 compiled from source). tsc needs only the first.
NODE_FILES_STAMP := node_modules/.package-lock.json
NODE_STAMP := node_modules/.sfpipe-scripts-done
PYTHON ?= python3
VENV := .venv
# A stamp per dbt requirements set: the local one (make run) and the full one (make test, setup).
VENV_LOCAL_STAMP := $(VENV)/.installed-local
VENV_FULL_STAMP := $(VENV)/.installed-full
PIP_INSTALL = $(VENV)/bin/pip install --quiet --disable-pip-version-check
# Parallel jobs for make run's set-up steps (npm, the virtualenv, tsc)
RUN_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
AVA_FLAGS ?=
TEST_FILES ?=

.PHONY: setup build compile typecheck test run run-setup bench clean help tools image browser

help:
	@echo "make run        materialize the pipeline on the embedded default (simulator, DuckDB, dbt-duckdb)"
	@echo "make test       run every test suite"
	@echo "make setup      install npm packages and the dbt virtualenv (.venv) with every adapter"
	@echo "make build      compile TypeScript to dist/"
	@echo "make typecheck  type-check without emitting"
	@echo "make bench      run the benchmarks in bench/"
	@echo "make tools      build helm, kubeconform, actionlint, kube-apiserver, etcd, kubectl and kube-controller-manager into .tools/bin and lay out Trino in .tools/"
	@echo "make image      build the Dockerfile into a local image (docker, else buildah; cached by its inputs)"

# The lockfile's packages, reproducibly (npm ci), in two steps. Their install scripts (only
# better-sqlite3 compiles anything: SQLite from source, about a minute of one core, the longest
# step of a first `make run`) run in the second, so that tsc and the virtualenv proceed meanwhile;
# `npm ci --ignore-scripts` then `npm rebuild` installs what `npm ci` does.
$(NODE_FILES_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	@touch $(NODE_FILES_STAMP)

$(NODE_STAMP): $(NODE_FILES_STAMP)
	npm rebuild
	@touch $(NODE_STAMP)

# dbt Core and its adapters in .venv, every package pinned by one resolution (dbt/constraints.txt,
# remade by dbt/scripts/lock-requirements.sh); no dbt Hub packages. Two sets: the local one,
# dbt-duckdb only (dbt/requirements-local.txt), which is all that `make run` needs, and the full
# one with dbt-athena and dbt-trino (dbt/requirements.txt: make setup, make test, the image).
# The local set is a subset of the full one at the same versions, so either order upgrades the
# same .venv by adding packages.
$(VENV)/bin/pip:
	$(PYTHON) -m venv $(VENV)

$(VENV_LOCAL_STAMP): dbt/requirements-local.txt dbt/constraints.txt | $(VENV)/bin/pip
	$(PIP_INSTALL) -r dbt/requirements-local.txt
	@touch $(VENV_LOCAL_STAMP)

$(VENV_FULL_STAMP): dbt/requirements.txt dbt/constraints.txt | $(VENV)/bin/pip
	$(PIP_INSTALL) -r dbt/requirements.txt
	@touch $(VENV_FULL_STAMP)

setup: $(NODE_STAMP) $(VENV_FULL_STAMP)

# Test tools built from the Go module proxy into .tools/bin (cached; each script skips what is
# up to date): helm and kubeconform (+ Kubernetes JSON schemas), kube-apiserver, etcd, kubectl,
# actionlint (+ Debian's shellcheck); and Trino from Maven Central into .tools/trino-<version>
# (needs Maven and JDK 25).
tools:
	bash test/services/helm/build.sh
	bash test/services/actionlint/build.sh
	bash test/services/k8s/build.sh
	bash test/services/k8s/build-controllers.sh
	bash test/services/trino/build.sh

# The Dockerfile built into localhost/sf-user-pipeline:ctx-<inputs hash> (+ :<version>): with
# docker when an engine answers, else buildah (apt-installed when missing); where no registry
# is reachable its Debian base is made with mmdebstrap. Nothing is built when the inputs are
# unchanged. See test/services/image/build.sh.
image:
	bash test/services/image/build.sh

build: setup compile

# TypeScript to dist/ (needs the packages' files, not their install scripts).
compile: $(NODE_FILES_STAMP)
	rm -rf dist
	npx tsc -p tsconfig.json
	chmod +x dist/bin/sfpipe.js

typecheck: setup
	npx tsc -p tsconfig.json --noEmit

# Debian's chromium for the web view's browser tests (test/ui), installed with apt-get when absent.
browser:
	bash test/services/ui/install.sh

# with-services: the test processes share one Trino (started on first use, stopped at the end).
test: build tools image browser
	node dist/test/services/with-services.js npx ava $(AVA_FLAGS) $(TEST_FILES)

# make run installs only what the embedded default needs (the local dbt set), with its set-up
# steps side by side (RUN_JOBS): the npm install scripts, the virtualenv and tsc.
run:
	@$(MAKE) --no-print-directory -j$(RUN_JOBS) run-setup
	dist/bin/sfpipe.js materialize

run-setup: $(NODE_STAMP) $(VENV_LOCAL_STAMP) compile

BENCH_SIZES ?= 5000,100000,1000000
BENCH_PATHS ?= rest,bulk
BENCH_RAW_USERS ?= 1000000

bench: build
	node dist/bench/cli-startup.js
	node dist/bench/extract.js $(BENCH_SIZES) $(BENCH_PATHS)
	node dist/bench/raw-commit.js $(BENCH_RAW_USERS)

clean:
	rm -rf dist .sfpipe
