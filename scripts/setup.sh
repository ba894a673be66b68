#!/usr/bin/env bash
# Set up spicegrad on a fresh Debian/Ubuntu machine with Python 3.11:
#   ngspice + libngspice0 from apt (only when missing, and it says so; with --test also the
#   Fashion-MNIST package dataset-fashion-mnist), a virtualenv in .venv,
#   torch pinned to 2.13.0 (an unpinned torch pulls a multi-GB CUDA build), then spicegrad itself.
# Usage: bash scripts/setup.sh [--test]     (--test also installs the test tools)
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
if [ "${1:-}" = "--test" ]; then extras="[test]"; fi

sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
apt_install() {
  echo "setup: installing $* from apt"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$@" >/dev/null
}

missing=()
command -v ngspice >/dev/null 2>&1 || missing+=(ngspice)
{ ldconfig -p 2>/dev/null | grep -q 'libngspice\.so'; } || missing+=(libngspice0)
# The tests train on Fashion-MNIST subsets read from Debian's package.
if [ -n "$extras" ] && [ ! -d /usr/share/datasets/fashion-mnist ]; then missing+=(dataset-fashion-mnist); fi
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3
if [ ! -x .venv/bin/python ]; then
  if ! "$python" -m venv .venv 2>/dev/null; then
    apt_install python3-venv
    "$python" -m venv .venv
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
# setuptools warns on every editable install that same-named folders could shadow the package;
# this checkout is that folder, so the warning is noise here.
PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q -e ".${extras}" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import spicegrad, torch; print(f'setup: spicegrad {spicegrad.__version__}, torch {torch.__version__}, ngspice ready')"
