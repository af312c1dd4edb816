# syntax=docker/dockerfile:1
#
# fw-flight-sql image: docker build -t fw-flight-sql:0.1.0 .
#
# Two stages built from the same pinned Python image, so the virtual environment's
# interpreter symlinks (/opt/venv/bin/python -> /usr/local/bin/python3.11) stay valid in
# the runtime stage. Bump the tag (and rebuild) for Python and Debian security fixes.

FROM python:3.11.14-slim-bookworm AS builder

# Compilers and headers, for any dependency that ships no wheel for the target platform.
# build-essential is a Debian metapackage whose version (12.9) is fixed for all of bookworm.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential=12.9 \
    && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1

RUN python -m venv "$VIRTUAL_ENV"

WORKDIR /src

# The context holds only what `pip install .` needs: .dockerignore is an allowlist
# (pyproject.toml, constraints.txt, README.md, flight_server/, clients/ when present).
# The server and every object store (the `server` extra); no client, test or demo packages.
COPY . .
RUN pip install --no-cache-dir -c constraints.txt '.[server]' \
    && fw-flight-sql --help > /dev/null


FROM python:3.11.14-slim-bookworm AS runtime

ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="fw-flight-sql" \
      org.opencontainers.image.description="Arrow Flight SQL server for Flywheel datasets, backed by DuckDB" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT"

# A fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify it and volume ownership
# (fsGroup) is predictable. The default config is an empty mapping: mount a real one over
# it or configure through FW_FLIGHT_SQL_* environment variables.
RUN groupadd --system --gid 10001 fwsql \
    && useradd --system --no-log-init --uid 10001 --gid 10001 \
        --home-dir /home/fwsql --create-home --shell /usr/sbin/nologin fwsql \
    && mkdir -p /etc/fw-flight-sql \
    && printf '# Replace with your configuration (see docs/deploy.md).\n{}\n' \
        > /etc/fw-flight-sql/config.yaml

COPY --from=builder /opt/venv /opt/venv

# The server writes only its DuckDB spill directory under /tmp, so the container runs
# with a read-only root filesystem when /tmp is a writable volume.
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONFAULTHANDLER=1 \
    FW_FLIGHT_SQL_HOST=0.0.0.0

USER 10001:10001
WORKDIR /home/fwsql

# Arrow Flight SQL (gRPC) and the ops HTTP port (/healthz, /readyz, /metrics).
EXPOSE 32010 9090

# Only the standard library: the image has no curl. urlopen raises (exit 1) on errors and
# on non-2xx answers.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('FW_FLIGHT_SQL_OPS_PORT', '9090') + '/healthz', timeout=4)"]

# SIGTERM starts the server's graceful shutdown.
STOPSIGNAL SIGTERM
ENTRYPOINT ["fw-flight-sql"]
CMD ["serve", "--config", "/etc/fw-flight-sql/config.yaml"]
