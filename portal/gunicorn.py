"""Gunicorn settings (``gunicorn --config python:portal.gunicorn``), from the environment."""

import os

bind = os.environ.get("GUNICORN_BIND") or f"127.0.0.1:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
# Django's RequestContextMiddleware writes one JSON line per request; no access log twice.
accesslog = None
errorlog = "-"
# Gunicorn 27's control socket lives in ~/.gunicorn by default, shared by every gunicorn
# of the same user; Preflight does not use it.
control_socket_disable = True
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "portal.logs.JsonFormatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
        }
    },
    # Gunicorn merges this over its own defaults key by key: "root" must be given, or its
    # default names a "console" handler that no longer exists and gunicorn will not start.
    "root": {"handlers": ["stdout"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        # A logconfig_dict switches gunicorn's access log on whatever accesslog says.
        "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}
