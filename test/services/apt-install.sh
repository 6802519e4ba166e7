#!/usr/bin/env bash
# Installs Debian packages with apt-get (through sudo when not root), for the set-up scripts that
# bring in what a test tier needs when it is missing (buildah, chromium, shellcheck).
#
# Usage: test/services/apt-install.sh WHO PACKAGE...   (WHO names the caller in messages)
set -euo pipefail

who="$1"
shift
command -v apt-get >/dev/null 2>&1 || { echo "$who: missing $*, and no apt-get to install it" >&2; exit 1; }
SUDO=()
[[ $(id -u) -eq 0 ]] || SUDO=(sudo)
echo "$who: installing $* with apt-get"
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "$@" >/dev/null
