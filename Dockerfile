# One image for the api, worker and dashboard services of compose.yml; the
# command picks the service (see services/entrypoint.py): api, worker or dashboard.
# It holds the service and its runtime dependencies only: no tests, no tooling
# for running the stack without Docker (services/stack, see .dockerignore).
# No `# syntax=` line: BuildKit would pull that frontend from a registry, and
# the built-in one understands everything here (make images-offline builds
# the base images for an engine that reaches no registry).

FROM python:3.11-slim-bookworm AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# The dependencies alone first, from the lock: this layer is rebuilt only when
# pyproject.toml or uv.lock change, not on every edit of the code. Neither the
# dev group (tests, linters) nor the local group (Traefik and Valkey binaries
# for running without Docker) goes into the image.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-group local --no-install-project

FROM python:3.11-slim-bookworm
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY services ./services
COPY actors ./actors
# The code stays owned by root: the service cannot change it.
USER app
ENTRYPOINT ["python", "-m", "services.entrypoint"]
CMD ["api"]
