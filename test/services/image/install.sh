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

bash "$(dirname "${BASH_SOURCE[0]}")/../apt-install.sh" image/install.sh "${missing[@]}" crun
