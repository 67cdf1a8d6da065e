"""Automated evidence: everything about checks lives in this room.

- ``collectors/``: the checks themselves, which never touch the database: ``base`` (a
  check type, its outcome, the registry, bindings), ``runner`` (many at once),
  ``egress`` (where they may connect) and one module per family (``http``,
  ``alerting``, ``repository``, ``pagerduty``, ``newrelic``, ``cloudfoundry``, ``aws/``).
- ``selectors``: reads: a sweep's plan and targets, credentials, standing results,
  which bindings fail, an item's checks.
- ``services``: writes: storing results and moving standings (sweeps and pushes share
  one rule), finishing runs, pushed evidence, CI tokens.
- ``tasks``: the sweep (Celery). ``notifications``: regressions. ``secrets``: the
  platform connections' encryption. ``pushed``: what a pipeline may send; ``api`` the
  endpoint it sends to. ``views`` and ``admin``: pages.

The models are in ``reviews/models/checks.py``.
"""
