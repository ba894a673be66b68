#!/usr/bin/env bash
# Build the documentation site (MkDocs + mkdocstrings, from docs/ and the docstrings) with
# warnings as errors. Usage: bash scripts/build-docs.sh [OUTPUT_DIR]   (default: site/ in the repo)
# Needs the docs extra in .venv: .venv/bin/pip install -e ".[docs]"
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(realpath -m "${1:-$root/site}")"  # a relative OUTPUT_DIR is relative to where you are
mkdocs="$root/.venv/bin/mkdocs"
if [ ! -x "$mkdocs" ]; then
  echo "build-docs: $mkdocs not found; install the docs tools with: .venv/bin/pip install -e \".[docs]\"" >&2
  exit 2
fi
cd "$root"
exec "$mkdocs" build --strict --clean --config-file mkdocs.yml --site-dir "$out"
