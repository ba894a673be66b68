# spicegrad in a container, for hosts that are not Debian: the same steps as scripts/setup.sh on
# Debian 12 (bookworm), whose ngspice (39.3) is the major release spicegrad is tested with.
#   docker build -t spicegrad .
#   mkdir -p out && docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/out:/out" spicegrad   # the demo, in ./out
# (--user: the files in ./out are yours; without it, ./out must be writable by uid 1000.)
#   docker run --rm spicegrad spicegrad validate --quick --report /tmp/r  # any other command
#   docker run --rm spicegrad python -m pytest -m "not slow" -q           # the tests
FROM debian:bookworm-slim

# ngspice-39 (the executable and libngspice for --backend shared), Python 3.11, and the
# Fashion-MNIST package that the training workflows and tests read.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ngspice libngspice0 python3 python3-venv dataset-fashion-mnist ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# An unprivileged user owns the virtualenv and the work folder.
RUN useradd --create-home --uid 1000 spicegrad \
 && mkdir -p /opt/venv /opt/spicegrad /out \
 && chown spicegrad:spicegrad /opt/venv /opt/spicegrad /out
USER spicegrad
# Writable by any uid given with --user: the cache and matplotlib's settings go to /tmp.
ENV PATH=/opt/venv/bin:$PATH SPICEGRAD_CACHE=/tmp/spicegrad-cache MPLCONFIGDIR=/tmp/matplotlib
RUN python3 -m venv /opt/venv && pip install --no-cache-dir --upgrade pip

# torch in its own layer, before the source, so editing spicegrad does not reinstall it:
# the CPU build from the PyTorch project's CPU wheel index (the default index serves CUDA).
ARG TORCH_VERSION=2.13.0
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --no-cache-dir --index-url "$TORCH_CPU_INDEX" "torch==${TORCH_VERSION}"

WORKDIR /opt/spicegrad
COPY --chown=spicegrad:spicegrad . .
RUN pip install --no-cache-dir -e ".[test]"

CMD ["spicegrad", "demo", "--out", "/out"]
