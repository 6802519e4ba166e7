#!/usr/bin/env bash
# Builds the pinned actionlint (the GitHub Actions workflow linter, a Go module) with
# `go install` into .tools/bin, and installs Debian's shellcheck when it is missing: actionlint
# runs it on every `run:` script, and the tests run it on deploy/deploy.sh, so the lint is the
# same on every machine (an absent shellcheck would silently check less).
#
# Idempotent: actionlint is rebuilt only when its version stamp differs.
#
# Usage: test/services/actionlint/build.sh        (env TOOLS_DIR overrides <repo>/.tools)
set -euo pipefail

ACTIONLINT_VERSION="v1.7.12"      # github.com/rhysd/actionlint

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
TOOLS_DIR="${TOOLS_DIR:-$REPO/.tools}"
BIN="$TOOLS_DIR/bin"
mkdir -p "$BIN"

STAMP="actionlint $ACTIONLINT_VERSION"
if [[ -x "$BIN/actionlint" && "$(cat "$BIN/.actionlint.stamp" 2>/dev/null)" == "$STAMP" \
      && "$("$BIN/actionlint" -version 2>/dev/null | head -n1)" == "$ACTIONLINT_VERSION" ]]; then
  echo "actionlint: $ACTIONLINT_VERSION already built ($BIN/actionlint)"
else
  t0=$SECONDS
  # The module version goes into the binary's build info, which `actionlint -version` prints.
  CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath" GOBIN="$BIN" \
    go install -ldflags "-s -w" "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
  echo "$STAMP" > "$BIN/.actionlint.stamp"
  echo "actionlint: built $ACTIONLINT_VERSION in $((SECONDS - t0))s"
fi

if ! command -v shellcheck >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || { echo "actionlint/build.sh: no shellcheck and no apt-get to install it (install shellcheck)" >&2; exit 1; }
  SUDO=()
  [[ $(id -u) -eq 0 ]] || SUDO=(sudo)
  echo "actionlint/build.sh: installing shellcheck with apt-get"
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq shellcheck >/dev/null
fi
echo "shellcheck: $(shellcheck --version | sed -n 's/^version: //p') ($(command -v shellcheck))"
