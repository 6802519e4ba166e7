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

command -v shellcheck >/dev/null 2>&1 || bash "$HERE/../apt-install.sh" actionlint/build.sh shellcheck
echo "shellcheck: $(shellcheck --version | sed -n 's/^version: //p') ($(command -v shellcheck))"
