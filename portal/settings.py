"""Preflight settings: one module, driven by environment variables.

Zero configuration gives the embedded default: a SQLite file, tasks run in-process, no
Redis needed. ``PREFLIGHT_ENV=production`` switches on the production posture (a real
``SECRET_KEY`` is required, HTTPS-only cookies, HSTS, manifest static files). Every
variable is documented in README.md.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import dj_database_url
import django_stubs_ext
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from portal.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_mapping,
    env_networks,
    env_secret,
    env_str,
    scheme_and_host,
)
from portal.storage import evidence_storage

# Lets generic Django classes be subscripted at run time (ModelAdmin[Model]) for mypy.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("PREFLIGHT_DATA_DIR", str(BASE_DIR / ".data")))

PREFLIGHT_ENV = env_choice("PREFLIGHT_ENV", ("development", "production"), "development")
PRODUCTION = PREFLIGHT_ENV == "production"
DEBUG = env_bool("DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when PREFLIGHT_ENV=production")


def _secret_key() -> str:
    key = env_secret("SECRET_KEY")
    if key:
        if PRODUCTION and (len(key) < 50 or len(set(key)) < 5):
            raise ImproperlyConfigured("SECRET_KEY is too short: use at least 50 random characters")
        return key
    if PRODUCTION:
        raise ImproperlyConfigured(
            "SECRET_KEY (or SECRET_KEY_FILE) must be set when PREFLIGHT_ENV=production"
        )
    # Development: a random key kept beside the embedded database, never in the repo.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(64), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when PREFLIGHT_ENV=production")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")


def _site_url() -> str:
    """Where people open Preflight: emails link to it, and a worker has no request to ask."""
    raw = env_str("SITE_URL").strip()
    if not raw:
        if PRODUCTION:
            raise ImproperlyConfigured(
                "SITE_URL must be set when PREFLIGHT_ENV=production: the https:// address "
                "people open Preflight at, e.g. https://preflight.example.gov"
            )
        return "http://127.0.0.1:8000"
    # Scheme and host only: links join it with reverse(), which already carries any prefix.
    parts = scheme_and_host(raw)
    if parts is None or parts.username:
        raise ImproperlyConfigured(
            f"SITE_URL={raw!r} is not a scheme and host such as https://preflight.example.gov"
        )
    if PRODUCTION and parts.scheme != "https":
        raise ImproperlyConfigured("SITE_URL must be an https:// address in production")
    return f"{parts.scheme}://{parts.netloc}"


SITE_URL = _site_url()

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "django_celery_beat",
    "django_htmx",
    "rules",
    "simple_history",
    "portal.accounts",
    "portal.audit",
    "portal.ops",
    "portal.outbox",
    "checklists",
    "reviews",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.privacy.PrivatePagesMiddleware",
    "portal.logs.RequestContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "portal.accounts.mfa.RequireMFAMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.navigation.navigation",
            ],
            "libraries": {
                "uswds": "portal.templatetags.uswds",
                "people": "portal.templatetags.people",
            },
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'preflight.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # The embedded database under concurrent requests (an htmx save and a button): WAL
    # lets reads go on during a write, writers wait their turn (up to 20 s) instead of
    # failing with "database is locked", and a transaction takes the write lock when it
    # begins, so two never deadlock upgrading from reading to writing.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME") or None}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker, results and the shared cache (rate limits) -----------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            # django-redis, because it can treat an unreachable Redis as an empty cache:
            # while Redis is away, sessions are read from the database, rate limits let
            # requests through, pages are rendered afresh, and the errors are logged
            # (preflight.cache, at most once a minute) instead of failing the request.
            # portal.cache says what add() answers then.
            "BACKEND": "portal.cache.RedisCache",
            "LOCATION": env_str("CACHE_URL", REDIS_URL),
            "KEY_PREFIX": "preflight",
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
    DJANGO_REDIS_LOGGER = "preflight.cache"
    # Sessions are read from the shared cache (and kept in the database), sparing a
    # query on every request.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery (the app lives in portal/celery.py) ---------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL) or "memory://"
# No broker configured means the embedded mode: tasks run in-process, on commit.
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL == "memory://"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL) or None
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# How long sending a task keeps trying to reach the broker (Celery's default is 4 s of
# retries): a web request gives up after this and the outbox keeps the task.
CELERY_BROKER_CONNECTION_TIMEOUT = 1.5
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 3,
    "socket_timeout": 5,
    # A task taken by a worker that died (acks_late) is handed out again after this long;
    # it must exceed the longest task time limit (300 s) so a slow task is not run twice.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 900, minimum=1),
    # How often workers look for such tasks: every interval x throttle seconds.
    "unacked_restore_interval": env_int("CELERY_RESTORE_INTERVAL", 10, minimum=1),
    "unacked_restore_throttle": env_int("CELERY_RESTORE_THROTTLE", 3, minimum=1),
}
# Automated checks: how many run at once per worker process, and each call's time limit.
CHECK_CONCURRENCY = env_int("CHECK_CONCURRENCY", 250, minimum=1)
CHECK_TIMEOUT_SECONDS = float(env_int("CHECK_TIMEOUT_SECONDS", 10, minimum=1))
CHECK_SWEEP_MINUTES = env_int("CHECK_SWEEP_MINUTES", 15, minimum=1)
# The same in seconds, when minutes are too coarse (the scale-out test sweeps every 3 s).
CHECK_SWEEP_SECONDS = env_int("CHECK_SWEEP_SECONDS", 60 * CHECK_SWEEP_MINUTES, minimum=1)
# Checks per chunk of a sweep: each chunk is one task, so chunks spread over the workers.
CHECK_CHUNK_SIZE = env_int("CHECK_CHUNK_SIZE", 500, minimum=1)
# The only protocols git may use to read a service's repository.
CHECK_GIT_PROTOCOLS = env_list("CHECK_GIT_PROTOCOLS", ["https"])
# Pushes each CI token may make to the evidence API: a count per s, m, h or d.
PUSH_RATE_LIMIT = env_str("PUSH_RATE_LIMIT").strip() or "120/m"
_count, _, _unit = PUSH_RATE_LIMIT.partition("/")
if not (
    _count.isascii() and _count.isdigit() and int(_count) > 0 and _unit in ("s", "m", "h", "d")
):
    raise ImproperlyConfigured(
        f"PUSH_RATE_LIMIT={PUSH_RATE_LIMIT!r} is not a rate such as 120/m "
        "(a count per s, m, h or d)"
    )
# Checks reach only the public internet; these networks (CIDRs) are opened on purpose.
# Cloud metadata addresses stay refused unless listed exactly (see reviews/checks/egress.py).
CHECK_ALLOWED_NETWORKS = env_networks("CHECK_ALLOWED_NETWORKS")
# Fernet keys that encrypt the platform connections' secrets (PagerDuty, New Relic, Cloud
# Foundry), newest first: the first encrypts, all decrypt, so a key can be rotated in.
# Empty means one key derived from SECRET_KEY (rotating SECRET_KEY then needs the old
# derived key listed here; `manage.py rotate_connection_secrets` re-encrypts).
CONNECTION_SECRET_KEYS = [
    key for key in env_secret("CONNECTION_SECRET_KEYS").replace(",", " ").split() if key
]
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# How often beat has the outbox's waiting tasks sent (after a broker outage).
OUTBOX_RELAY_SECONDS = env_int("OUTBOX_RELAY_SECONDS", 30, minimum=1)
# Periodic jobs are declared here, in code; django-celery-beat syncs them into the
# database where admins can see (and pause) them.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "sweep-checks": {
        # Stands down when another beat's sweep took this tick (two hosts, two beats).
        "task": "checks.sweep_scheduled",
        "schedule": float(CHECK_SWEEP_SECONDS),
    },
    "expire-exceptions": {
        "task": "reviews.expire_waivers",
        # Hourly, so an exception expires within the hour of its date wherever beat runs.
        "schedule": 3600.0,
    },
    # Tasks queued while the broker was away (portal.outbox) are sent when it is back.
    "relay-outbox": {
        "task": "outbox.relay",
        "schedule": float(OUTBOX_RELAY_SECONDS),
    },
    "snapshot-readiness": {
        "task": "portfolio.snapshot_readiness",
        # Daily just after midnight UTC; repeating it the same day changes nothing.
        "schedule": crontab(hour=0, minute=10),
    },
}
CELERY_TIMEZONE = "UTC"

# --- Authentication ---------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "accounts:home"
LOGOUT_REDIRECT_URL = "account_login"

PREFLIGHT_ALLOW_SIGNUP = env_bool("ALLOW_SIGNUP", False)
ACCOUNT_ADAPTER = "portal.accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "portal.accounts.adapters.SocialAccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
# Self-signup must prove the address; accounts made by an admin are trusted as given.
ACCOUNT_EMAIL_VERIFICATION = "mandatory" if PREFLIGHT_ALLOW_SIGNUP else "none"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_PREVENT_ENUMERATION = True
# Failed sign-ins: 10 a minute per IP, and 5 in 5 minutes per account.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/300s/key",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "reauthenticate": "10/m/user",
    "change_password": "5/m/user",
    "signup": "20/m/ip",
}
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Preflight] "
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)

MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Preflight"

# OpenID Connect single sign-on (login.gov, Okta, Google Workspace, Keycloak…).
OIDC_SERVER_URL = env_str("OIDC_SERVER_URL")
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
OIDC_ROLE_MAP = env_mapping("OIDC_ROLE_MAP")
SOCIALACCOUNT_ONLY = False
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_PROVIDERS: dict[str, dict[str, object]] = {}
if OIDC_SERVER_URL and PRODUCTION and not OIDC_SERVER_URL.startswith("https://"):
    # allauth trusts the id_token it fetches from the token endpoint on the strength of
    # TLS (OIDC Core 3.1.3.7) rather than its signature, so TLS is not optional.
    raise ImproperlyConfigured("OIDC_SERVER_URL must be an https:// URL in production")
if OIDC_SERVER_URL:
    SOCIALACCOUNT_PROVIDERS["openid_connect"] = {
        "OAUTH_PKCE_ENABLED": env_bool("OIDC_PKCE", True),
        "SCOPE": env_list("OIDC_SCOPES", ["openid", "profile", "email", OIDC_GROUPS_CLAIM]),
        "APPS": [
            {
                "provider_id": env_str("OIDC_PROVIDER_ID", "sso"),
                "name": env_str("OIDC_NAME", "Single sign-on"),
                "client_id": env_str("OIDC_CLIENT_ID"),
                "secret": env_secret("OIDC_CLIENT_SECRET"),
                "settings": {
                    "server_url": OIDC_SERVER_URL,
                    "token_auth_method": env_str("OIDC_TOKEN_AUTH_METHOD", "client_secret_basic"),
                },
            }
        ],
    }
    if not env_str("OIDC_CLIENT_ID"):
        raise ImproperlyConfigured("OIDC_CLIENT_ID must be set when OIDC_SERVER_URL is")

# --- Email ----------------------------------------------------------------------------
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 10
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(DATA_DIR / "mail"))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Preflight <preflight@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Internationalisation ---------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files: USWDS and htmx come from node_modules (npm ci), never the repo ------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT") or str(BASE_DIR / "staticfiles"))
NODE_MODULES = BASE_DIR / "node_modules"
_USWDS_DIST = NODE_MODULES / "@uswds" / "uswds" / "dist"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # Only what pages load: the CSS finds its images and fonts at ../img and ../fonts.
    *((f"uswds/{part}", _USWDS_DIST / part) for part in ("css", "js", "img", "fonts")),
    ("htmx", NODE_MODULES / "htmx.org" / "dist"),
]
STORAGES = {
    # Uploaded evidence: MEDIA_ROOT on local disk, or EVIDENCE_STORAGE=s3 for a private
    # bucket several hosts share (portal/storage/, docs/evidence-storage.md).
    "default": evidence_storage(production=PRODUCTION),
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Outside production, serve straight from the finders so no collectstatic is needed.
WHITENOISE_USE_FINDERS = not PRODUCTION
# Look files up per request outside production: indexing ~2,600 USWDS files each time
# the middleware is built would cost seconds per test client and per dev reload.
WHITENOISE_AUTOREFRESH = not PRODUCTION
if not PRODUCTION:
    STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns about a missing root otherwise
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "/media/"
# Evidence uploads: size and types (files are checked by content too, not just by name).
EVIDENCE_MAX_UPLOAD_BYTES = env_int("EVIDENCE_MAX_UPLOAD_MB", 20, minimum=1) * 1024 * 1024
EVIDENCE_ALLOWED_EXTENSIONS = env_list(
    "EVIDENCE_ALLOWED_EXTENSIONS",
    ["pdf", "png", "jpg", "jpeg", "gif", "txt", "md", "csv", "json", "log"],
)
# Uploads above this are streamed to a temporary file instead of held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Exceptions (risk acceptances) last at most this long.
WAIVER_MAX_DAYS = env_int("EXCEPTION_MAX_DAYS", 180, minimum=1)
WAIVER_REMINDER_DAYS = (14, 3)

# --- Security ---------------------------------------------------------------------------
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=300)
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
# A refused form is a refusal in the record (portal.errors).
CSRF_FAILURE_VIEW = "portal.errors.csrf_failure"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
# Load balancers probe over plain HTTP; they must not be redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", PRODUCTION)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
_proxy_header = env_str("SECURE_PROXY_SSL_HEADER")
if _proxy_header:
    # "X-Forwarded-Proto=https" -> ("HTTP_X_FORWARDED_PROTO", "https")
    _name, _sep, _value = _proxy_header.partition("=")
    if not _sep or not _name or not _value:
        raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER must look like X-Forwarded-Proto=https")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _name.strip().upper().replace("-", "_"), _value.strip())

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF, *env_list("CSP_FORM_ACTION")],
        "frame-ancestors": [NONE],
        "object-src": [NONE],
        "base-uri": [SELF],
    },
}

# robots.txt: everything is disallowed unless production opts in.
ROBOTS_ALLOW_INDEXING = env_bool("ROBOTS_ALLOW_INDEXING", False)

# --- Logging: JSON lines on stdout, UTC timestamps, request and user ids ---------------
LOG_LEVEL = env_choice("LOG_LEVEL", ("debug", "info", "warning", "error"), "info").upper()
# json for log platforms; text (the same facts on plain lines) for a console, as in make demo.
LOG_FORMAT = env_choice("LOG_FORMAT", ("json", "text"), "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_context": {"()": "portal.logs.RequestContextFilter"},
        "once_a_minute": {"()": "portal.logs.OncePerInterval", "seconds": 60},
    },
    "formatters": {
        "json": {"()": "portal.logs.JsonFormatter"},
        "text": {"()": "portal.logs.TextFormatter"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": sys.stdout,
            "formatter": LOG_FORMAT,
            "filters": ["request_context"],
        },
        # A logger with no handler at all would reach logging's last resort, which
        # prints its warnings (runserver's 4xx lines) raw to stderr.
        "null": {"class": "logging.NullHandler"},
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        # Our own request line replaces runserver's plain-text one.
        "django.server": {"handlers": ["null"], "propagate": False},
        # 4xx are in the request line already; 5xx (and 503 from /readyz) are errors.
        "django.request": {"level": "ERROR"},
        "django.db.backends": {"level": "INFO"},
        # One line per check request would drown the sweep's own results.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # The cache's errors while Redis is away: one line a minute, not one per request.
        "preflight.cache": {"filters": ["once_a_minute"]},
    },
}
