#!/usr/bin/env bash
# Builds pinned kube-apiserver, kubectl and etcd from the Go module proxy into .tools/bin/.
#
#   test/services/k8s/build.sh            # build what is missing or out of date
#   FORCE=1 test/services/k8s/build.sh    # rebuild everything
#   test/services/k8s/build.sh kubectl    # only the named tools
#
# Each tool has a wrapper module in test/services/k8s/<tool>/ (go.mod pins the version,
# go.sum is committed). A tool is skipped when its binary exists and its stamp file
# (.tools/bin/.<tool>.stamp) matches the pinned version + a hash of the wrapper module
# files + the Go version. Honours GOCACHE / GOMODCACHE / GOFLAGS from the environment.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
BIN="${SFPIPE_TOOLS_BIN:-$ROOT/.tools/bin}"
mkdir -p "$BIN"

K8S_VERSION=v1.34.12          # k8s.io/kubernetes (kube-apiserver) and k8s.io/kubectl v0.34.12
ETCD_VERSION=v3.6.16          # go.etcd.io/etcd/server/v3

GO="${GO:-go}"
command -v "$GO" >/dev/null || { echo "build.sh: go not found" >&2; exit 1; }
GOVER="$("$GO" env GOVERSION)"

# Version stamping like hack/lib/version.sh does, so /version and `kubectl version` are real.
k8s_ldflags() {
  local v="$K8S_VERSION" major minor
  major="${v#v}"; major="${major%%.*}"
  minor="${v#v*.}"; minor="${minor%%.*}"
  local out="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    out+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    out+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  printf '%s' "$out"
}

version_of() {
  case "$1" in
    kube-apiserver|kubectl) echo "$K8S_VERSION" ;;
    etcd) echo "$ETCD_VERSION" ;;
    *) echo "unknown tool $1" >&2; return 1 ;;
  esac
}

stamp_of() {
  local tool="$1" h
  h="$(cd "$HERE/$tool" && cat go.mod go.sum main.go "$HERE/build.sh" | sha256sum | cut -c1-16)"
  echo "$tool $(version_of "$tool") $GOVER $h"
}

build_one() {
  local tool="$1" stamp_file="$BIN/.$1.stamp" want
  want="$(stamp_of "$tool")"
  if [[ -z "${FORCE:-}" && -x "$BIN/$tool" && -f "$stamp_file" && "$(cat "$stamp_file")" == "$want" ]]; then
    echo "[$tool] up to date ($want)"
    return 0
  fi
  local ldflags="-s -w"
  [[ "$tool" == etcd ]] || ldflags="$(k8s_ldflags)"
  echo "[$tool] building $(version_of "$tool") with $GOVER ..."
  local t0=$SECONDS
  (
    cd "$HERE/$tool"
    # -mod=readonly: go.mod/go.sum are pinned and committed; never rewrite them here.
    CGO_ENABLED=0 "$GO" build -mod=readonly -trimpath -ldflags="$ldflags" -o "$BIN/$tool.tmp" .
  )
  mv -f "$BIN/$tool.tmp" "$BIN/$tool"
  echo "$want" > "$stamp_file"
  echo "[$tool] built in $((SECONDS - t0))s, $(du -h "$BIN/$tool" | cut -f1) -> $BIN/$tool"
}

TOOLS=("$@")
[[ ${#TOOLS[@]} -gt 0 ]] || TOOLS=(etcd kubectl kube-apiserver)
T0=$SECONDS
for t in "${TOOLS[@]}"; do build_one "$t"; done
echo "build.sh: total ${SECONDS}s ($((SECONDS - T0))s building) GOCACHE=$("$GO" env GOCACHE)"
