#!/usr/bin/env bash
# Installs the browser the web view's tests drive (test/ui): Debian's chromium, driven by
# puppeteer-core (which downloads no browser of its own). A no-op when chromium is on PATH or
# SFPIPE_CHROMIUM names one. Needs root or sudo (CI and the dev machines run as root).
set -euo pipefail

if [[ -n "${SFPIPE_CHROMIUM:-}" ]] || command -v chromium >/dev/null 2>&1; then exit 0; fi
command -v apt-get >/dev/null 2>&1 || { echo "ui/install.sh: no chromium and no apt-get to install it (set SFPIPE_CHROMIUM to a Chromium binary)" >&2; exit 1; }
bash "$(dirname "${BASH_SOURCE[0]}")/../apt-install.sh" ui/install.sh chromium
