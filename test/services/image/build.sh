#!/usr/bin/env bash
# `make image`: builds the repository's Dockerfile, unchanged, into a local image.
#
#   test/services/image/build.sh          # build unless an image of the same inputs exists
#   test/services/image/build.sh --ref    # print that image's reference (exit 1: not built)
#   test/services/image/build.sh --engine # print the engine it builds with (docker or buildah)
#   FORCE=1 test/services/image/build.sh  # rebuild
#
# Engine: docker when a Docker engine answers, else buildah (installed by install.sh),
# building with --isolation chroot. Base images: each FROM base the Dockerfile names
# (ARG defaults substituted) that is not present locally is pulled; where no registry is
# reachable, a debian:<suite>[-slim] base is made from Debian's packages with mmdebstrap
# (minbase, like Debian's own slim image) and imported under that very name, so the
# Dockerfile's FROM resolves to it.
#
# Cache: the image is tagged <name>:ctx-<hash>, hash of the Dockerfile, .dockerignore, every
# file its COPY lines take from the context (git ls-files: tracked and untracked, not
# ignored) and the base images' IDs; it is also tagged <name>:<package.json version>. A
# tree whose inputs are unchanged finds its image and builds nothing. A stamp per build
# (.tools/image/ctx-<hash>.stamp) records the reference, the image ID, its size and the build
# time; the build's output is in .tools/image/build-<hash>.log. NO_CACHE=1: a cold build
# (no layer cache).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
STAMPS="${SFPIPE_TOOLS_DIR:-$ROOT/.tools}/image"
NAME="${SFPIPE_IMAGE_NAME:-localhost/sf-user-pipeline}"
VERSION="$(node -p 'require(process.argv[1]).version' "$ROOT/package.json")"
MODE="${1:-build}"
log() { echo "[image] $*" >&2; }

# ---- engine ---------------------------------------------------------------------------
if [[ -n "${SFPIPE_IMAGE_ENGINE:-}" ]]; then
  ENGINE="$SFPIPE_IMAGE_ENGINE"
elif command -v docker >/dev/null 2>&1 && timeout 15 docker info >/dev/null 2>&1; then
  ENGINE=docker
else
  ENGINE=buildah
fi
if [[ "$MODE" == --engine ]]; then
  echo "$ENGINE"
  exit 0
fi
if [[ "$ENGINE" == buildah && "$MODE" != --ref ]]; then
  bash "$HERE/install.sh"
fi
command -v "$ENGINE" >/dev/null 2>&1 || { log "$ENGINE is not installed (run test/services/image/install.sh)"; exit 1; }

image_id() { # prints the image ID of $1, or nothing
  if [[ "$ENGINE" == docker ]]; then docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true
  else buildah inspect --type image --format '{{.FromImageID}}' "$1" 2>/dev/null || true; fi
}

# ---- base images ------------------------------------------------------------------------
# FROM names, ARG defaults substituted, stage names (FROM x AS name) left out.
bases() {
  awk '
    toupper($1) == "ARG" && index($2, "=") { split($2, kv, "="); args[kv[1]] = kv[2] }
    toupper($1) == "FROM" {
      img = ($2 ~ /^--/) ? $3 : $2
      for (k in args) { gsub("\\$\\{" k "\\}", args[k], img); gsub("\\$" k, args[k], img) }
      if (!(img in stages)) print img
      if (toupper($(NF-1)) == "AS") stages[$NF] = 1
    }' "$ROOT/Dockerfile" | sort -u
}

make_debian_base() { # $1: debian:<suite>[-slim]
  local ref="$1" tag suite tmp t0=$SECONDS
  tag="${ref#debian:}"; suite="${tag%-slim}"
  [[ "$ref" == debian:* && -n "$suite" ]] || { log "no registry reachable and $ref is not a debian:<suite> base: cannot make it"; return 1; }
  command -v mmdebstrap >/dev/null 2>&1 || bash "$HERE/install.sh"
  tmp="$(mktemp -d)"
  log "making $ref from Debian packages (mmdebstrap --variant=minbase $suite) ..."
  # The slim image's dpkg excludes (no man pages, docs but copyright, locales).
  mmdebstrap --variant=minbase --quiet \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    "$suite" "$tmp/base.tar" \
    "deb http://deb.debian.org/debian $suite main" \
    "deb http://deb.debian.org/debian $suite-updates main" \
    "deb http://deb.debian.org/debian-security $suite-security main"
  # The name the FROM line resolves to: docker.io/library/<name> (podman and docker alike).
  if [[ "$ENGINE" == docker ]]; then docker import --change 'CMD ["bash"]' "$tmp/base.tar" "$ref" >/dev/null
  else podman import --change 'CMD ["bash"]' "$tmp/base.tar" "docker.io/library/$ref" >/dev/null; fi
  rm -rf "$tmp"
  log "$ref made in $((SECONDS - t0))s"
}

ensure_base() {
  local ref="$1"
  [[ -n "$(image_id "$ref")" ]] && return 0
  if [[ "$ENGINE" == docker ]]; then timeout 300 docker pull -q "$ref" >/dev/null 2>&1 && return 0
  else timeout 300 buildah pull -q "docker.io/library/$ref" >/dev/null 2>&1 && return 0; fi
  log "could not pull $ref (no registry reachable?)"
  make_debian_base "$ref"
}

BASES=()
while IFS= read -r b; do BASES+=("$b"); done < <(bases)
[[ "$MODE" == --ref ]] || for b in "${BASES[@]}"; do ensure_base "$b"; done

# ---- inputs hash --------------------------------------------------------------------------
inputs_hash() {
  local srcs
  srcs="$(awk 'toupper($1) == "COPY" && $2 !~ /^--from/ { for (i = 2; i < NF; i++) if ($i !~ /^--/) print $i }' "$ROOT/Dockerfile" | sort -u)"
  {
    (cd "$ROOT" && git ls-files -z -co --exclude-standard -- Dockerfile .dockerignore $srcs | sort -z | xargs -0 sha256sum)
    for b in "${BASES[@]}"; do echo "$b $(image_id "$b")"; done
  } | sha256sum | cut -c1-16
}
HASH="$(inputs_hash)"
REF="$NAME:ctx-$HASH"
STAMP="$STAMPS/ctx-$HASH.stamp"

if [[ "$MODE" == --ref ]]; then
  [[ -n "$(image_id "$REF")" ]] || { log "$REF is not built: run make image"; exit 1; }
  echo "$REF"
  exit 0
fi

image_size() {
  if [[ "$ENGINE" == docker ]]; then docker image inspect --format '{{.Size}}' "$1"
  else podman image inspect --format '{{.Size}}' "$1"; fi
}
write_stamp() { # $1: build seconds (or "found": built earlier, e.g. by another work tree)
  mkdir -p "$STAMPS"
  printf 'ref=%s\nid=%s\nsize_bytes=%s\nbuild_seconds=%s\nengine=%s\nbases=%s\n' \
    "$REF" "$(image_id "$REF")" "$(image_size "$REF")" "$1" "$ENGINE" "${BASES[*]}" > "$STAMP.tmp"
  mv -f "$STAMP.tmp" "$STAMP"
}

if [[ -z "${FORCE:-}" && -n "$(image_id "$REF")" ]]; then
  [[ -f "$STAMP" ]] || write_stamp found
  "$ENGINE" tag "$REF" "$NAME:$VERSION" # the version tag follows this tree (another may have moved it)
  log "up to date: $REF ($(grep '^size_bytes=' "$STAMP" | cut -d= -f2) bytes)"
  exit 0
fi

# NO_CACHE=1: no layer cache either (a cold build).
CACHE=(--layers)
[[ -n "${NO_CACHE:-}" ]] && CACHE=(--layers=false --no-cache)
# The CA bundle the registries' TLS is checked with, handed to the Dockerfile's fetching RUN
# steps as the optional build secret build_ca (needed behind a TLS-intercepting proxy).
CA="${SFPIPE_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}"
SECRET=()
[[ -s "$CA" ]] && SECRET=(--secret "id=build_ca,src=$CA")
mkdir -p "$STAMPS"
BUILD_LOG="$STAMPS/build-$HASH.log"
log "building $REF with $ENGINE (log: $BUILD_LOG) ..."
t0=$SECONDS
if [[ "$ENGINE" == docker ]]; then
  DOCKER_BUILDKIT=1 docker build ${NO_CACHE:+--no-cache} "${SECRET[@]}" -t "$REF" -t "$NAME:$VERSION" -f "$ROOT/Dockerfile" "$ROOT" > "$BUILD_LOG" 2>&1 \
    || { tail -n 60 "$BUILD_LOG" >&2; log "docker build failed"; exit 1; }
else
  buildah bud --isolation chroot --pull=never --force-rm "${CACHE[@]}" "${SECRET[@]}" \
    -t "$REF" -t "$NAME:$VERSION" -f "$ROOT/Dockerfile" "$ROOT" > "$BUILD_LOG" 2>&1 \
    || { tail -n 60 "$BUILD_LOG" >&2; log "buildah bud failed"; exit 1; }
fi
secs=$((SECONDS - t0))
write_stamp "$secs"
size="$(image_size "$REF")"
log "built $REF in ${secs}s: $((size / 1024 / 1024)) MiB ($size bytes); also tagged $NAME:$VERSION"
