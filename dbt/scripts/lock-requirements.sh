#!/usr/bin/env bash
# Regenerates dbt/constraints.txt, the one pinned resolution of the dbt toolchain: resolves the
# full set (dbt/requirements.txt, without its constraints) in a scratch virtualenv and pins every
# package that it installs. Both sets install with these constraints: the full one (make test,
# make setup, the image) and the local one (dbt/requirements-local.txt, make run), so the local
# set is the full set's own versions of the packages it needs.
#
#   PYTHON=python3.11 bash dbt/scripts/lock-requirements.sh   # after changing a pin
set -euo pipefail
DBT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"${PYTHON:-python3}" -m venv "$tmp/venv"
grep -v '^-c ' "$DBT_DIR/requirements.txt" > "$tmp/requirements.txt"
"$tmp/venv/bin/pip" install --quiet --disable-pip-version-check -r "$tmp/requirements.txt"
py="$("$tmp/venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
{
  echo "# The pinned resolution of dbt/requirements.txt (Python $py), made by"
  echo "# dbt/scripts/lock-requirements.sh: do not edit by hand. Used as constraints by"
  echo "# dbt/requirements.txt and dbt/requirements-local.txt (pip and setuptools are left out)."
  "$tmp/venv/bin/pip" freeze --disable-pip-version-check
} > "$tmp/constraints.txt"
mv "$tmp/constraints.txt" "$DBT_DIR/constraints.txt"
echo "wrote $DBT_DIR/constraints.txt ($(grep -vc '^#' "$DBT_DIR/constraints.txt") packages)"
