#!/usr/bin/env bash
# Builds the pinned kube-controller-manager from the Go module proxy into .tools/bin/, the way
# build.sh builds kube-apiserver: a wrapper module (test/services/k8s/kube-controller-manager/,
# go.mod pins k8s.io/kubernetes v1.34.12 and replaces each staging module with its published
# v0.34.12; go.sum is committed), CGO off, version stamped into the binary.
#
# A separate script (not a tool of build.sh) so that build.sh's own stamps, which hash
# build.sh, are unchanged: the tool cache is shared between work trees.
#
# Skipped when the binary exists and .tools/bin/.kube-controller-manager.stamp matches the
# version + the wrapper module's hash + the Go version. FORCE=1 rebuilds.
# No kube-scheduler: the Job controller creates Pods without one (they stay Pending).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
ROOT="$(cd "$HERE/../../.." && pwd)"
BIN="${SFPIPE_TOOLS_BIN:-$ROOT/.tools/bin}"
mkdir -p "$BIN"

TOOL=kube-controller-manager
K8S_VERSION=v1.34.12          # same Kubernetes as kube-apiserver (build.sh)

GO="${GO:-go}"
command -v "$GO" >/dev/null || { echo "build-controllers.sh: go not found" >&2; exit 1; }
GOVER="$("$GO" env GOVERSION)"

want="$TOOL $K8S_VERSION $GOVER $(cd "$HERE/$TOOL" && cat go.mod go.sum main.go "$SELF" | sha256sum | cut -c1-16)"
stamp_file="$BIN/.$TOOL.stamp"
if [[ -z "${FORCE:-}" && -x "$BIN/$TOOL" && -f "$stamp_file" && "$(cat "$stamp_file")" == "$want" ]]; then
  echo "[$TOOL] up to date ($want)"
  exit 0
fi

major="${K8S_VERSION#v}"; major="${major%%.*}"
minor="${K8S_VERSION#v*.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

echo "[$TOOL] building $K8S_VERSION with $GOVER ..."
t0=$SECONDS
(
  cd "$HERE/$TOOL"
  CGO_ENABLED=0 "$GO" build -mod=readonly -trimpath -ldflags="$ldflags" -o "$BIN/$TOOL.tmp.$$" .
)
mv -f "$BIN/$TOOL.tmp.$$" "$BIN/$TOOL"
echo "$want" > "$stamp_file"
echo "[$TOOL] built in $((SECONDS - t0))s, $(du -h "$BIN/$TOOL" | cut -f1) -> $BIN/$TOOL"
