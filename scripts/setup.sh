#!/usr/bin/env bash
# Set up spicegrad on a fresh Debian/Ubuntu machine with Python 3.11:
#   ngspice + libngspice0 from apt (only when missing, and it says so; with --test also the
#   Fashion-MNIST package dataset-fashion-mnist), a virtualenv in .venv, the CPU build of torch
#   (from the PyTorch project's CPU wheel index when it answers, else the default index), then
#   spicegrad itself (editable).
# Usage: bash scripts/setup.sh [--test]
#   --test also installs the [dev] extra: pytest, Dask, PySpice, the docs tools, build and ruff.
set -euo pipefail
cd "$(dirname "$0")/.."

#: the torch release spicegrad is tested with
TORCH_VERSION=2.13.0
#: the PyTorch project's index of CPU-only wheels (about 200 MB instead of about 2 GB with CUDA)
TORCH_CPU_INDEX=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}

extras=""
case "${1:-}" in
  "") ;;
  --test) extras="[dev]" ;;
  *) echo "setup: unknown option ${1}; usage: bash scripts/setup.sh [--test]" >&2; exit 2 ;;
esac

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
  echo "setup: creating the virtualenv .venv with $("$python" --version 2>&1)"
  if ! "$python" -m venv .venv 2>/dev/null; then
    apt_install python3-venv
    "$python" -m venv .venv
  fi
fi
# pip's own output stays on the terminal (its progress bars need one); only the stderr lines
# about unreadable package locations in the machine's pip configuration are dropped.
pip() { .venv/bin/python -m pip "$@" 2> >(grep -v "^WARNING: Location" >&2); }
pip install -q --upgrade pip

if .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  echo "setup: torch $TORCH_VERSION is already installed"
elif .venv/bin/python -c "import urllib.request; urllib.request.urlopen('$TORCH_CPU_INDEX/torch/', timeout=10)" 2>/dev/null; then
  echo "setup: installing torch $TORCH_VERSION (CPU build) from $TORCH_CPU_INDEX"
  pip install --progress-bar on --index-url "$TORCH_CPU_INDEX" "torch==$TORCH_VERSION"
else
  echo "setup: $TORCH_CPU_INDEX did not answer; installing torch $TORCH_VERSION from the default index"
  echo "setup: (on some platforms that is the CUDA build, about 2 GB; set TORCH_CPU_INDEX to a mirror to avoid it)"
  pip install --progress-bar on "torch==$TORCH_VERSION"
fi
echo "setup: installing spicegrad${extras} and its dependencies"
# setuptools warns on every editable install that same-named folders could shadow the package;
# this checkout is that folder, so the warning is noise here.
PYTHONWARNINGS=ignore pip install --progress-bar on -e ".${extras}"
.venv/bin/python -c "import spicegrad, torch; print(f'setup: spicegrad {spicegrad.__version__}, torch {torch.__version__}, ngspice ready')"
echo "setup: done. Activate the environment with   source .venv/bin/activate"
echo "setup: then run e.g.   spicegrad demo   (or call .venv/bin/spicegrad without activating)"
