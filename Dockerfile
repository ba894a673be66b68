# spicegrad in a container: the same steps as scripts/setup.sh, for non-Debian hosts.
#   docker build -t spicegrad .
#   docker run --rm -v "$PWD/out:/out" spicegrad                 # the demo, plots in ./out
#   docker run --rm spicegrad python -m pytest -m "not slow" -q  # the tests
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends ngspice libngspice0 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/spicegrad
COPY . .
# torch is pinned: an unpinned torch pulls a multi-GB CUDA build.
RUN pip install --no-cache-dir "torch==2.13.0" \
 && pip install --no-cache-dir -e ".[test]"

CMD ["spicegrad", "demo", "--out", "/out"]
