# syntax=docker/dockerfile:1
# schemaop image: the operator, the migration Jobs (`schemaop job run`), the
# `schemaop wait` init container and the schema sidecar all run this one image
# with the one entrypoint `schemaop`.
#
# Stage 1 builds a wheel of the package and installs it with its dependencies
# into a virtualenv; stage 2 copies only that venv onto a slim base with the
# PostgreSQL client tools (pg_dump for the Schema/Full snapshot policies).
# It runs as an unprivileged user (uid 10001) and needs no writable path but
# /tmp, so `readOnlyRootFilesystem: true` works with an emptyDir at /tmp.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/schemaop
# The dependencies at the versions and hashes pinned in requirements.lock
# (setuptools, the build backend, included), so two builds of one commit install
# the same packages; then the package itself without resolving anything again.
COPY requirements.lock ./
RUN /opt/schemaop/bin/pip install --no-compile --require-hashes --only-binary=:all: \
      -r requirements.lock
COPY pyproject.toml README.md ./
COPY operator ./operator
# Wheels, not an editable install: the runtime stage gets no source tree.
RUN /opt/schemaop/bin/pip install --no-compile --no-deps --no-build-isolation . \
 && /opt/schemaop/bin/python -m compileall -q /opt/schemaop/lib

FROM ${PYTHON_IMAGE} AS runtime
ARG SCHEMAOP_UID=10001
# PostgreSQL client tools from Debian (pg_dump, psql). pg_dump refuses servers
# newer than itself; PG_CLIENT_VERSION can pin a newer client from the PGDG
# repository in a derived image.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid "${SCHEMAOP_UID}" schemaop \
 && useradd --system --uid "${SCHEMAOP_UID}" --gid schemaop --home-dir /nonexistent \
      --no-create-home --shell /usr/sbin/nologin schemaop
COPY --from=build /opt/schemaop /opt/schemaop
ENV PATH=/opt/schemaop/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
# Fails the build if the console script or its lazy imports are broken.
RUN schemaop version
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080 8081
# tini reaps children (pg_dump) and forwards SIGTERM to the Python process.
ENTRYPOINT ["/usr/bin/tini", "--", "schemaop"]
CMD ["--help"]
