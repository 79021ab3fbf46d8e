# The realtime edge (and, with another command, the demo producer).
# Built from the repository root: docker build -f infra/edge.Dockerfile .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY . .
RUN pip install .

# A numeric uid, so that Kubernetes can verify runAsNonRoot.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/edge edge
USER 10001
# Run from the home folder: the installed package is what gets imported, not
# the copy under /src, and REALTIME_DATA_DIR's default (./.realtime) is
# writable should the embedded NATS ever be used.
WORKDIR /home/edge

EXPOSE 9009

# Liveness only; compose and Kubernetes ask /readyz for readiness.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('REALTIME_PORT', '9009'), timeout=2)"]

CMD ["realtime-bridge", "serve"]
