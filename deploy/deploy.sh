#!/usr/bin/env bash
# The deploy, step by step: .github/workflows/deploy.yml runs each step as its own workflow step,
# and a person runs the same steps locally (see --help and the README's "CI/CD" section).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
CHART="$ROOT/helm/sf-user-pipeline"
IMAGE_BUILD="$ROOT/test/services/image/build.sh"
SFPIPE_JS="$ROOT/dist/bin/sfpipe.js"
ALL_STEPS=(image push dbt helm smoke)

usage() {
  cat <<'EOF'
Usage: deploy/deploy.sh [--env ENV] [--values FILE]... [--skip STEP]... STEP...

Deploys sf-user-pipeline to one environment. Steps, in the order a deploy runs them
(`all` runs every one that is not skipped):

  image   build the Dockerfile with `make image` (docker, else buildah; nothing is built when
          an image of the same inputs exists) and tag it REPOSITORY:TAG
  push    push REPOSITORY:TAG to its registry (log in first: docker login / buildah login)
  dbt     dbt build of the dbt models on the environment's warehouse: `sfpipe materialize
          --select kind:dbt` with the pipeline config and materialize env that the chart
          renders for the environment's values (the run is recorded in its event log)
  helm    helm upgrade --install RELEASE with the environment's values, image REPOSITORY:TAG
  smoke   sfpipe launch --wait: an ad hoc run from the release's materialize CronJob, followed
          to its end (its log streamed; the step fails when the Job fails)

Options:
  --env ENV        the environment: dev, staging, prod, … (default: $DEPLOY_ENV)
  --values FILE    a values file (repeatable; default: helm/sf-user-pipeline/values-ENV.yaml;
                   $DEPLOY_VALUES: space-separated files)
  --skip STEP      skip a step (repeatable; $DEPLOY_SKIP: space-separated steps), e.g. push and
                   dbt where there is no registry or warehouse to reach
  -h, --help       this help

Environment:
  DEPLOY_IMAGE_REPOSITORY  the image's repository, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/sfpipe
                           (needed by image, push, dbt and helm)
  DEPLOY_IMAGE_TAG         its tag (default: the checkout's commit, 12 hex digits)
  DEPLOY_RELEASE           the helm release (default: sf-user-pipeline)
  DEPLOY_NAMESPACE         its namespace (default: sf-user-pipeline)
  DEPLOY_STATE_DIR         the dbt step's SFPIPE_HOME (dbt's target/ and logs/; default: a new
                           temporary directory)
  DEPLOY_SMOKE_WAIT        0: the smoke step creates the Job and does not wait for it (default: 1)
  DEPLOY_SMOKE_TIMEOUT     seconds the smoke step waits for the Job (default: 3600)
  KUBECONFIG               the cluster (helm and sfpipe launch read it)
  HELM                     the helm binary (default: .tools/bin/helm if built, else helm on PATH)
  SFPIPE_IMAGE_ENGINE      docker or buildah (default: docker when an engine answers, else buildah)

Needs `make build` first (dist/ and, for the dbt step, .venv with dbt).
EOF
}

log() { echo "deploy: $*" >&2; }
die() { echo "deploy: $1" >&2; exit "${2:-1}"; }
usage_error() { echo "deploy: $1 (see deploy/deploy.sh --help)" >&2; exit 2; }

is_step() { local s; for s in "${ALL_STEPS[@]}"; do [[ "$s" == "$1" ]] && return 0; done; return 1; }

# ---- arguments ----------------------------------------------------------------------------
ENV_NAME="${DEPLOY_ENV:-}"
VALUES=()
read -r -a SKIP <<< "${DEPLOY_SKIP:-}"
read -r -a VALUES <<< "${DEPLOY_VALUES:-}"
STEPS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --env) [[ $# -ge 2 ]] || usage_error "--env needs a value"; ENV_NAME="$2"; shift 2 ;;
    --env=*) ENV_NAME="${1#--env=}"; shift ;;
    --values) [[ $# -ge 2 ]] || usage_error "--values needs a file"; VALUES+=("$2"); shift 2 ;;
    --values=*) VALUES+=("${1#--values=}"); shift ;;
    --skip) [[ $# -ge 2 ]] || usage_error "--skip needs a step"; SKIP+=("$2"); shift 2 ;;
    --skip=*) SKIP+=("${1#--skip=}"); shift ;;
    all) STEPS+=("${ALL_STEPS[@]}"); shift ;;
    -*) usage_error "unknown option $1" ;;
    *) is_step "$1" || usage_error "unknown step \"$1\": the steps are ${ALL_STEPS[*]} (or all)"; STEPS+=("$1"); shift ;;
  esac
done
[[ ${#STEPS[@]} -gt 0 ]] || usage_error "no step given: name one or more of ${ALL_STEPS[*]}, or all"
for s in "${SKIP[@]}"; do is_step "$s" || usage_error "--skip/DEPLOY_SKIP: unknown step \"$s\": the steps are ${ALL_STEPS[*]}"; done
[[ -n "$ENV_NAME" ]] || usage_error "no environment: pass --env dev|staging|prod or set DEPLOY_ENV"
[[ "$ENV_NAME" =~ ^[a-z][a-z0-9-]*$ ]] || usage_error "--env \"$ENV_NAME\" is not an environment name (lowercase letters, digits and -)"
if [[ ${#VALUES[@]} -eq 0 ]]; then
  VALUES=("$CHART/values-$ENV_NAME.yaml")
  [[ -f "${VALUES[0]}" ]] || usage_error "environment $ENV_NAME has no values file ${VALUES[0]#"$ROOT"/}: add it, or pass --values FILE"
fi
for f in "${VALUES[@]}"; do [[ -f "$f" ]] || usage_error "the values file $f does not exist"; done

RELEASE="${DEPLOY_RELEASE:-sf-user-pipeline}"
NAMESPACE="${DEPLOY_NAMESPACE:-sf-user-pipeline}"
REPOSITORY="${DEPLOY_IMAGE_REPOSITORY:-}"
TAG="${DEPLOY_IMAGE_TAG:-$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || true)}"
if [[ -z "${HELM:-}" ]]; then
  if [[ -x "$ROOT/.tools/bin/helm" ]]; then HELM="$ROOT/.tools/bin/helm"; else HELM=helm; fi
fi

need_image_ref() {
  [[ -n "$REPOSITORY" ]] || usage_error "step $1 needs the image's repository: set DEPLOY_IMAGE_REPOSITORY (e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/sfpipe)"
  [[ -n "$TAG" ]] || usage_error "step $1 needs the image's tag: set DEPLOY_IMAGE_TAG (no git commit to default to)"
}
need_sfpipe() { [[ -f "$SFPIPE_JS" ]] || die "$SFPIPE_JS is missing: run make build first"; }
engine() { bash "$IMAGE_BUILD" --engine; }

# helm's release, chart, namespace, the environment's values files and the image.
chart_args() {
  local a=("$RELEASE" "$CHART" --namespace "$NAMESPACE") f
  for f in "${VALUES[@]}"; do a+=(--values "$f"); done
  a+=(--set-string "image.repository=$REPOSITORY" --set-string "image.tag=$TAG")
  printf '%s\0' "${a[@]}"
}
mapfile -d '' CHART_ARGS < <(chart_args)

# ---- steps --------------------------------------------------------------------------------
step_image() {
  bash "$IMAGE_BUILD"
  local built eng
  built="$(bash "$IMAGE_BUILD" --ref)"
  eng="$(engine)"
  "$eng" tag "$built" "$REPOSITORY:$TAG"
  log "image: $REPOSITORY:$TAG (the image $built, tagged with $eng)"
}

step_push() {
  local eng
  eng="$(engine)"
  "$eng" push "$REPOSITORY:$TAG"
  log "push: $REPOSITORY:$TAG pushed with $eng"
}

step_dbt() {
  local state="${DEPLOY_STATE_DIR:-}" rendered
  [[ -n "$state" ]] || state="$(mktemp -d "${TMPDIR:-/tmp}/sfpipe-deploy-dbt.XXXXXX")"
  mkdir -p "$state"
  rendered="$state/rendered.yaml"
  "$HELM" template "${CHART_ARGS[@]}" > "$rendered"
  node "$HERE/chart-query.mjs" pipeline-config < "$rendered" > "$state/pipeline.yaml"
  node "$HERE/chart-query.mjs" materialize-env < "$rendered" > "$state/materialize.env"
  # The materialize pod's plain env (the Athena settings, the log level, …) but its paths: the
  # config and the state directory are this run's.
  local pod_env=() e
  mapfile -d '' pod_env < "$state/materialize.env"
  local env_args=()
  for e in "${pod_env[@]}"; do
    case "${e%%=*}" in SFPIPE_CONFIG|SFPIPE_HOME|HOME) ;; *) env_args+=("$e") ;; esac
  done
  log "dbt: dbt build of the dbt models for $ENV_NAME (config $state/pipeline.yaml, state $state)"
  env "${env_args[@]}" SFPIPE_CONFIG="$state/pipeline.yaml" SFPIPE_HOME="$state" \
    node "$SFPIPE_JS" materialize --select kind:dbt
}

step_helm() {
  "$HELM" upgrade --install "${CHART_ARGS[@]}" --create-namespace --history-max 10
  log "helm: release $RELEASE in $NAMESPACE at image $REPOSITORY:$TAG"
}

SMOKE_WAIT="${DEPLOY_SMOKE_WAIT:-1}"
SMOKE_TIMEOUT="${DEPLOY_SMOKE_TIMEOUT:-3600}"
step_smoke() {
  local cronjob home code=0
  cronjob="$("$HELM" get manifest "$RELEASE" --namespace "$NAMESPACE" | node "$HERE/chart-query.mjs" materialize-cronjob)"
  # launch's own state directory (it reads no pipeline state; this keeps it out of the checkout).
  home="$(mktemp -d "${TMPDIR:-/tmp}/sfpipe-deploy-smoke.XXXXXX")"
  local args=(launch --cronjob "$cronjob" --namespace "$NAMESPACE")
  if [[ "$SMOKE_WAIT" == 0 ]]; then
    log "smoke: a Job from $cronjob (not waiting for it: DEPLOY_SMOKE_WAIT=0)"
    SFPIPE_HOME="$home" node "$SFPIPE_JS" "${args[@]}" || code=$?
  else
    log "smoke: a Job from $cronjob, followed to its end (at most ${SMOKE_TIMEOUT}s once it exists)"
    # At the limit launch stops waiting, says so and exits 124 (the Job keeps running).
    # timeout(1) is the backstop for a launch that cannot even stop (its limit counts from the Job's creation).
    SFPIPE_HOME="$home" timeout --kill-after=30 "$((SMOKE_TIMEOUT + 300))" node "$SFPIPE_JS" "${args[@]}" --wait --wait-timeout "$SMOKE_TIMEOUT" || code=$?
  fi
  rm -rf "$home"
  [[ $code -eq 124 && "$SMOKE_WAIT" != 0 ]] && die "smoke: the Job from $cronjob did not end within ${SMOKE_TIMEOUT}s of its creation (DEPLOY_SMOKE_TIMEOUT)" 124
  return "$code"
}

# ---- run ----------------------------------------------------------------------------------
skipped() { local s; for s in "${SKIP[@]}"; do [[ "$s" == "$1" ]] && return 0; done; return 1; }
# What the steps need, checked before the first one runs.
for step in "${STEPS[@]}"; do
  skipped "$step" && continue
  case "$step" in image|push|dbt|helm) need_image_ref "$step" ;; esac
  case "$step" in dbt|smoke) need_sfpipe ;; esac
  if [[ "$step" == smoke ]]; then
    [[ "$SMOKE_WAIT" =~ ^[01]$ ]] || usage_error "DEPLOY_SMOKE_WAIT \"$SMOKE_WAIT\" is neither 0 nor 1"
    [[ "$SMOKE_TIMEOUT" =~ ^[1-9][0-9]{0,6}$ && "$SMOKE_TIMEOUT" -le 2147483 ]] || usage_error "DEPLOY_SMOKE_TIMEOUT \"$SMOKE_TIMEOUT\" is not a whole number of seconds from 1 to 2147483"
  fi
done
for step in "${STEPS[@]}"; do
  if skipped "$step"; then
    log "$step: skipped"
    continue
  fi
  log "$step: start ($ENV_NAME)"
  "step_$step"
done
