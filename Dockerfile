# syntax=docker/dockerfile:1
# smprov: the CLI and its pinned runtime dependencies, and nothing else.
# Build and run: see docs/ci.md (`docker build -t smprov .`).

# Both stages use the same base, so the venv's interpreter symlink (/usr/local/bin/python3.11)
# still resolves in the final image. For byte-identical rebuilds, pin the multi-arch index digest:
#   --build-arg PYTHON_IMAGE=python:3.11.17-slim-bookworm@sha256:<digest>
ARG PYTHON_IMAGE=python:3.11.17-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
WORKDIR /src
# The venv gets no pip of its own: the base image's pip installs into it (`--python`), so the
# final image holds only smprov and the locked dependencies.
RUN python -m venv --without-pip /opt/venv
# Dependencies get their own layer, rebuilt only when the lock changes. Hashes and wheels only:
# a tampered or unexpected file fails the build instead of reaching the image.
COPY requirements.lock ./
RUN python -m pip --python /opt/venv/bin/python install --no-cache-dir --disable-pip-version-check \
        --require-hashes --only-binary=:all: -r requirements.lock
# README.md is only package metadata: the glob lets a checkout without one still build.
COPY pyproject.toml README.md* ./
COPY provisioner ./provisioner
# --no-deps: everything smprov needs came from the lock above; `pip check` proves it is complete.
RUN python -m pip --python /opt/venv/bin/python install --no-cache-dir --disable-pip-version-check \
        --no-deps . \
    && python -m pip --python /opt/venv/bin/python check

FROM ${PYTHON_IMAGE} AS runtime
ARG PYTHON_IMAGE
ARG VERSION=unknown
ARG VCS_REF=unknown
ARG SOURCE_URL=unknown
LABEL org.opencontainers.image.title="smprov" \
      org.opencontainers.image.description="Provision the AWS infrastructure for SageMaker training" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A fixed uid/gid, so bind mounts and Kubernetes runAsUser can rely on it. /work/state belongs
# to that user, so a named volume mounted there starts out writable.
RUN groupadd --system --gid 10001 smprov \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/smprov \
        --shell /usr/sbin/nologin smprov \
    && mkdir -p /work/state \
    && chown -R 10001:10001 /work
COPY --from=builder /opt/venv /opt/venv
WORKDIR /work
USER 10001:10001
VOLUME ["/work/state"]
ENTRYPOINT ["smprov"]
CMD ["--help"]
