#!/usr/bin/env bash
# Builds the pinned helm and kubeconform binaries with `go install` into .tools/bin
# and generates kubeconform's JSON schemas offline from the Kubernetes OpenAPI spec
# (k8s.io/kubernetes api/openapi-spec/swagger.json, fetched from the Go module proxy).
#
# Idempotent: a tool is rebuilt only when its version stamp differs.
#
# helm built by `go install` assumes Kubernetes v1.20 (pkg/chartutil.k8sVersionMajor/
# Minor default "1"/"20") unless told. We set the same ldflags helm's Makefile sets
# (chartutil + lint/rules k8sVersionMajor/Minor, internal/version.version) so that
# `.Capabilities.KubeVersion` and `helm lint`'s deprecation checks see the Kubernetes
# minor matching helm's client-go (v0.37 -> 1.37). The tests also pass --kube-version.
#
# Usage: test/services/helm/build.sh        (env TOOLS_DIR overrides <repo>/.tools)
set -euo pipefail

HELM_VERSION="v3.22.0"            # helm.sh/helm/v3, built with k8s.io/client-go v0.37.0
KUBECONFORM_VERSION="v0.7.0"      # github.com/yannh/kubeconform
K8S_VERSION="v1.37.2"             # k8s.io/kubernetes module: source of swagger.json
K8S_MAJOR="1"
K8S_MINOR="37"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
TOOLS_DIR="${TOOLS_DIR:-$REPO/.tools}"
BIN="$TOOLS_DIR/bin"
SCHEMA_DIR="$TOOLS_DIR/k8s-schemas"
mkdir -p "$BIN" "$SCHEMA_DIR"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -trimpath"

# --- helm -------------------------------------------------------------------------
HELM_STAMP="helm $HELM_VERSION k8s $K8S_MAJOR.$K8S_MINOR"
if [[ -x "$BIN/helm" && "$(cat "$BIN/.helm.stamp" 2>/dev/null)" == "$HELM_STAMP" \
      && "$("$BIN/helm" version --template '{{.Version}}' 2>/dev/null)" == "$HELM_VERSION" ]]; then
  echo "helm: $HELM_VERSION already built ($BIN/helm)"
else
  t0="$(now)"
  LDFLAGS="-s -w"
  LDFLAGS+=" -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  LDFLAGS+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  LDFLAGS+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$K8S_MAJOR"
  LDFLAGS+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$K8S_MINOR"
  LDFLAGS+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$K8S_MAJOR"
  LDFLAGS+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$K8S_MINOR"
  GOBIN="$BIN" go install -ldflags "$LDFLAGS" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  echo "$HELM_STAMP" > "$BIN/.helm.stamp"
  echo "helm: built $HELM_VERSION in $(elapsed "$t0")"
fi

# --- kubeconform ------------------------------------------------------------------
KC_STAMP="kubeconform $KUBECONFORM_VERSION"
if [[ -x "$BIN/kubeconform" && "$(cat "$BIN/.kubeconform.stamp" 2>/dev/null)" == "$KC_STAMP" \
      && "$("$BIN/kubeconform" -v 2>/dev/null)" == "$KUBECONFORM_VERSION" ]]; then
  echo "kubeconform: $KUBECONFORM_VERSION already built ($BIN/kubeconform)"
else
  t0="$(now)"
  GOBIN="$BIN" go install -ldflags "-s -w -X main.version=$KUBECONFORM_VERSION" \
    "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  echo "$KC_STAMP" > "$BIN/.kubeconform.stamp"
  echo "kubeconform: built $KUBECONFORM_VERSION in $(elapsed "$t0")"
fi

# --- schemas ----------------------------------------------------------------------
# Layout kubeconform expects under -schema-location DIR with -kubernetes-version X.Y.Z:
#   DIR/vX.Y.Z-standalone-strict/<kind>-<group>-<version>.json
K8S_PLAIN="${K8S_VERSION#v}"
SCHEMA_STAMP="schemas $K8S_VERSION gen $(sha256sum "$HERE/openapi2jsonschema.mjs" | cut -c1-16)"
if [[ -f "$SCHEMA_DIR/.stamp" && "$(cat "$SCHEMA_DIR/.stamp")" == "$SCHEMA_STAMP" ]]; then
  echo "schemas: $K8S_VERSION already generated ($SCHEMA_DIR)"
else
  t0="$(now)"
  # `go mod download` works outside a module; the k8s.io/kubernetes module zip carries
  # api/openapi-spec/swagger.json (its replace directives don't matter for download).
  DIR="$(cd "${TMPDIR:-/tmp}" && GOFLAGS= go mod download -json "k8s.io/kubernetes@$K8S_VERSION" \
        | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);if(j.Error){console.error(j.Error);process.exit(1)}console.log(j.Dir)})')"
  SWAGGER="$DIR/api/openapi-spec/swagger.json"
  echo "schemas: swagger.json from $SWAGGER ($(elapsed "$t0"))"
  rm -rf "$SCHEMA_DIR"/v*-standalone*
  node "$HERE/openapi2jsonschema.mjs" "$SWAGGER" "$SCHEMA_DIR/v$K8S_PLAIN-standalone-strict" --strict
  node "$HERE/openapi2jsonschema.mjs" "$SWAGGER" "$SCHEMA_DIR/v$K8S_PLAIN-standalone"
  echo "$SCHEMA_STAMP" > "$SCHEMA_DIR/.stamp"
  echo "schemas: generated for $K8S_VERSION in $(elapsed "$t0")"
fi

# Written for the tests: which versions these tools were built for.
cat > "$TOOLS_DIR/helm-tools.env" <<ENV
HELM_VERSION=$HELM_VERSION
KUBECONFORM_VERSION=$KUBECONFORM_VERSION
K8S_VERSION=$K8S_VERSION
SCHEMA_DIR=$SCHEMA_DIR
ENV
