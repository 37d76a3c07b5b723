# syntax=docker/dockerfile:1
# One image for every Kefu process (api, worker, dash, migrate); the command picks the role.
#   docker build -t kefu .
#   docker run --rm kefu kefu --help

ARG PYTHON_IMAGE=python:3.11-slim

# ---- builder: install the package and its dependencies into a self-contained venv ----------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Only what `pip install .` needs; README* is optional (pyproject may reference it).
COPY pyproject.toml README* ./
COPY core/ core/
COPY knowledge/ knowledge/
COPY chat/ chat/
COPY backend/ backend/
COPY analytics/ analytics/
COPY dash_app/ dash_app/

# All dependencies ship manylinux wheels for CPython 3.11,
# so no compiler is needed here. Without the `embedded` extra: no development PostgreSQL or
# Redis in the image (KEFU_DATABASE_URL and KEFU_REDIS_URL point at real servers).
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --upgrade pip setuptools wheel \
    && pip install .

# ---- runtime: slim base, the venv, and the non-package files read at run time ------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="kefu" \
      org.opencontainers.image.description="Kefu (客服): multi-tenant AI customer-service platform" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    KEFU_DATA_DIR=/data

# A fixed uid/gid so volume ownership is predictable across rebuilds and hosts.
RUN groupadd --system --gid 10001 kefu \
    && useradd --system --uid 10001 --gid kefu --home-dir /home/kefu --create-home \
       --shell /usr/sbin/nologin kefu \
    && mkdir -p /data \
    && chown kefu:kefu /data

COPY --from=builder /opt/venv /opt/venv

# Runtime code is imported from a source tree at /app (it comes before site-packages on
# PYTHONPATH), because files that are not Python packages are found relative to that tree:
# core.migrations reads <root>/alembic.ini and <root>/alembic, and after a plain `pip install .`
# <root> would be site-packages, where `alembic` is the Alembic library itself.
# The venv still provides every dependency and the `kefu` entry point.
ENV PYTHONPATH=/app
WORKDIR /app
COPY core/ core/
COPY knowledge/ knowledge/
COPY chat/ chat/
COPY backend/ backend/
COPY analytics/ analytics/
COPY dash_app/ dash_app/
COPY alembic.ini ./
COPY alembic/ alembic/
COPY widget/ widget/

# A named volume mounted here starts with this ownership, so the non-root user can write uploads.
VOLUME ["/data"]

USER kefu

EXPOSE 8000 8050

CMD ["kefu", "api", "--host", "0.0.0.0", "--port", "8000"]
