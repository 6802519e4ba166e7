#!/usr/bin/env bash
# Installs what `make image` and the image tier need when no Docker engine answers: buildah
# (builds and runs the image), mmdebstrap (makes the Debian base where no registry is
# reachable) and podman (imports that base as an image). From Debian's packages; a no-op when
# they are all present. Needs root (CI and the dev machines run as root).
set -euo pipefail

missing=()
for pair in buildah:buildah mmdebstrap:mmdebstrap podman:podman; do
  cmd="${pair%%:*}" pkg="${pair#*:}"
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

command -v apt-get >/dev/null 2>&1 || { echo "image/install.sh: missing ${missing[*]} and no apt-get to install them" >&2; exit 1; }
SUDO=()
[[ $(id -u) -eq 0 ]] || SUDO=(sudo)
echo "image/install.sh: installing ${missing[*]} with apt-get"
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${missing[@]}" crun >/dev/null
