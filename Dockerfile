# syntax=docker/dockerfile:1
# Preflight's production image: gunicorn by default; the worker and beat run the same
# image with the Procfile's other commands (see docker-compose.yml).

# --- Front-end packages: USWDS and htmx, served by Django's staticfiles ---------------
FROM node:20-bookworm-slim AS node_modules
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# --- The application ---------------------------------------------------------------------
FROM python:3.11-slim-bookworm
ARG UV_VERSION=0.13.9
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PATH="/app/.venv/bin:${PATH}"

RUN pip install --no-cache-dir "uv==${UV_VERSION}"

WORKDIR /app
# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project \
    && rm -rf /root/.cache/uv

COPY --from=node_modules /app/node_modules ./node_modules
COPY . .

# Static files are built into the image. The settings need production values to load:
# the key below exists only for this one command and is never stored in the image.
RUN PREFLIGHT_ENV=production \
    SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
    ALLOWED_HOSTS=build \
    SITE_URL=https://build.invalid \
    PREFLIGHT_DATA_DIR=/tmp/build-data \
    python manage.py collectstatic --noinput \
    && rm -rf /tmp/build-data

# Code and static files stay root-owned (read-only to the app); /data is the app's.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/preflight preflight \
    && mkdir -p /data \
    && chown preflight:preflight /data
USER preflight

ENV PREFLIGHT_ENV=production \
    PREFLIGHT_DATA_DIR=/data \
    GUNICORN_BIND=0.0.0.0:8000
EXPOSE 8000

# The Procfile's web command (tests/test_stack.py keeps the two in step).
CMD ["gunicorn", "portal.wsgi:application", "--config", "python:portal.gunicorn"]
