"""Preflight's own answers to the 18F Good Production Practices checklist, for `make demo`.

Judged against this repository as it stands: the code, the docs, the Makefile, the
Compose stack and the tests. Preflight has no production deployment yet, so what an
operator of one would have to run (backups, alerting, a status page, support) is not met
rather than not applicable. An item is met only where something here shows it; the
evidence says where. Keep this table true when the project changes.
"""

from __future__ import annotations

from typing import NamedTuple

from reviews.models import AnswerStatus


class Given(NamedTuple):
    """One answer. why is the justification, or for a met item its note; evidence
    (met items) names what shows it: a page of the docs, a test module, an automated check."""

    status: str
    why: str
    evidence: str = ""


MET = AnswerStatus.MET
PARTLY = AnswerStatus.PARTIALLY_MET
NOT_MET = AnswerStatus.NOT_MET
NOT_APPLICABLE = AnswerStatus.NOT_APPLICABLE

NO_DEPLOYMENT = "Preflight has no production deployment yet"

# By item reference id, in the checklist's order; must-haves are marked.
PREFLIGHT_ANSWERS: dict[str, Given] = {
    # --- Backups ---------------------------------------------------------------------------
    "all-volatile-data-storage-is-on-redundant-infrastructure": Given(  # must-have
        NOT_MET,
        "docker-compose.yml runs one PostgreSQL and one Redis container on one host; nothing "
        "replicates them, and no managed, replicated database is set up.",
    ),
    "periodic-snapshots-of-volatile-data-storage-are-happening": Given(  # must-have
        NOT_MET,
        "manage.py backup writes the database and the evidence files to one archive, but "
        "nothing runs it on a schedule: the stack ships no backup job.",
    ),
    "ideally-point-in-time-recovery-is-possible": Given(
        NOT_MET, "PostgreSQL runs without WAL archiving, so there is no point to recover to."
    ),
    "recovery-is-documented-in-a-testable-procedure": Given(
        MET,
        "Backing up, a restore drill anyone can run into a scratch database, and recovering "
        "production, step by step.",
        "docs/backup-and-restore.md; tests/test_backup_restore.py (back up, restore into a "
        "fresh database: every row and file back, verify_record passes).",
    ),
    "tests-of-the-recovery-path-are-part-of-the-continuous-deploy": Given(
        PARTLY,
        "Every change's make test backs up, restores into a fresh database and verifies the "
        "record (tests/test_backup_restore.py), but no deploy restores a production backup.",
    ),
    # --- Deployment ------------------------------------------------------------------------
    "can-push-a-new-version-with-a-single-command": Given(
        MET,
        "docker compose up --build builds, migrates and restarts the whole stack; "
        "natively, make stack does the same.",
        "docs/operations.md; tests/test_stack.py starts the stack from the "
        "Procfile and checks that Compose and the Dockerfile run the same commands.",
    ),
    "more-than-one-person-is-able-to-do-it": Given(
        PARTLY,
        "The procedure is one documented command that CI also runs from a fresh clone "
        f"(.ci/run), so it rests on no one person's knowledge; but {NO_DEPLOYMENT}, so "
        "nobody holds the access to deploy it.",
    ),
    "blue-green-deployment": Given(
        NOT_MET,
        "Compose replaces the containers in place; there is no second environment to "
        "switch traffic to.",
    ),
    "automated-schema-updates": Given(
        MET,
        "The web service runs manage.py migrate before it starts, and so does "
        "make stack; CI refuses a model change that has no migration.",
        "docker-compose.yml (the web command); docs/operations.md → Upgrades; "
        "Makefile check-migrations (makemigrations --check, part of make test).",
    ),
    "snapshot-rollback-of-volatile-data-is-incorporated-in-the-pr": Given(
        NOT_MET, "Migrations run on start with no snapshot before them and no rollback step."
    ),
    "deployment-only-includes-production-necessary-files": Given(
        PARTLY,
        "The image installs no development packages (uv sync --no-dev) and "
        ".dockerignore leaves out .git, the virtualenv and caches, but COPY . . still "
        "puts tests/, scripts/ and the README in the image.",
    ),
    "secrets-are-retrieved-securely-eg-via-credential-service-rat": Given(
        PARTLY,
        "Every secret can be read from a file (<NAME>_FILE, for Docker or Kubernetes "
        "secrets) and platform credentials are stored encrypted, but docker-compose.yml "
        "passes SECRET_KEY, POSTGRES_PASSWORD and the mail and OIDC secrets as environment "
        "variables.",
    ),
    "download-build-and-configuration-limited-to-staging-not-runt": Given(
        MET,
        "The image is built with every package (from the lock files) and the static files "
        "inside it; nothing is downloaded or built when a container starts.",
        "Dockerfile (uv sync --frozen, npm ci and collectstatic at build time); "
        "docs/development.md → What make does.",
    ),
    "pin-dependencies": Given(
        MET,
        "uv.lock and package-lock.json pin every Python and front-end package, and every "
        "install uses them (uv sync --frozen, npm ci).",
        "uv.lock and package-lock.json; docs/development.md → What make does; the automated check "
        "repo.lock_file reads this clone's repository.",
    ),
    # --- Support ---------------------------------------------------------------------------
    "service-level-targets-are-documented": Given(
        NOT_MET, "No service-level targets are written down."
    ),
    "clear-entry-point-for-complaints": Given(
        NOT_MET, "The portal names no contact or support address."
    ),
    "clear-escalation-for-handling-infrastructure-vs-application": Given(
        NOT_MET, "No escalation path is documented."
    ),
    "support-queue-is-public": Given(NOT_MET, "There is no support queue."),
    # --- Logs ------------------------------------------------------------------------------
    "logs-are-captured-to-durable-storage-before-rotation": Given(  # must-have
        PARTLY,
        "Every process writes JSON lines to stdout, ready for a log shipper, and security "
        "events are also kept as rows in the database; but no shipper to durable storage "
        "is set up.",
    ),
    "logs-with-sensitive-data-are-only-available-to-appropriate-p": Given(  # must-have
        PARTLY,
        "In the portal, the security record (sign-ins with IP address and user agent) is "
        "for auditors only, and secrets are never logged or kept in history; who may read "
        "the stdout logs is up to a log platform, and none is set up.",
    ),
    "logs-can-be-browsed-drilled-with-low-latency-eg-grepping-not": Given(
        PARTLY,
        "Auditors filter security events on Activity; the request logs can only be "
        "grepped until a log platform is set up.",
    ),
    # --- Monitoring ------------------------------------------------------------------------
    "user-representative-tests-eg-can-access-service-can-perform": Given(  # must-have
        PARTLY,
        "Preflight's sweep checks its own /readyz (database, broker, a worker), and the "
        "browser tests sign in as every role, but only in CI: nothing regularly performs a "
        "critical operation (signing in, answering an item) against a running Preflight.",
    ),
    "tests-of-sub-components-also-running-regularly": Given(
        MET,
        "/readyz probes the database, the broker and a Celery worker, each with its own "
        "time limit, and Compose calls it every 15 seconds.",
        "docs/operations.md → Health endpoints; tests/test_health.py; "
        "docker-compose.yml (the web healthcheck).",
    ),
    "historical-graph-e-g-uptime": Given(
        NOT_MET, "Every sweep's results are kept, but nothing graphs uptime."
    ),
    "tests-are-run-frequently": Given(
        MET,
        "Compose probes /readyz every 15 seconds, and the sweep checks Preflight's own "
        "health every CHECK_SWEEP_MINUTES (15).",
        "docker-compose.yml (healthcheck interval); docs/checks.md → Sweeps; "
        "the automated check http.health.",
    ),
    "tests-are-reported-with-low-latency": Given(
        PARTLY,
        "A sweep's results show on the service page as soon as it ends, and Compose marks "
        "web unhealthy within about a minute; but nobody outside the portal is told.",
    ),
    "behavior-vs-stated-service-level-targets-is-tracked": Given(
        NOT_MET, "There are no service-level targets to track against."
    ),
    "dev-team-regularly-reviews-errors-caught-by-monitors-for-tri": Given(
        NOT_MET, "No error tracker or triage routine exists; errors reach only the logs."
    ),
    # --- Alerting --------------------------------------------------------------------------
    "someone-is-alerted-somehow-if-a-monitor-test-is-failing": Given(  # must-have
        NOT_MET,
        "Nothing outside Preflight watches it: if Preflight is down it cannot email about "
        "itself, and no Alertmanager or PagerDuty is set up (those checks are not "
        "applicable).",
    ),
    "flexible-targets-for-vacation-by-component-etc-eg-pagerduty": Given(
        NOT_MET, "No paging service is set up."
    ),
    "alerts-triggered-based-on-out-of-the-norm-thresholds": Given(NOT_MET, "No alert rules exist."),
    "flapping-status-does-not-result-in-excess-bouncing-alerts": Given(
        NOT_MET,
        "No alerting exists to tune. (The regression emails Preflight sends about the "
        "services it checks go out once per change from pass to fail.)",
    ),
    # --- Status communication --------------------------------------------------------------
    "a-status-page-is-available-to-all-users-and-downstream-servi": Given(
        NOT_MET, "Preflight has no status page."
    ),
    "the-status-page-is-hosted-off-infrastructure": Given(NOT_MET, "Preflight has no status page."),
    "the-status-page-shows-any-planned-and-all-previous-outages": Given(
        NOT_MET, "Preflight has no status page."
    ),
    "users-can-subscribe-to-notices": Given(
        NOT_MET, "There is no status page or notice list to subscribe to."
    ),
    # --- Security --------------------------------------------------------------------------
    "in-person-discussion-audit-around-launch-and-major-changes": Given(  # must-have
        NOT_MET,
        "Preflight has not launched; its launch audit has not been held (this review is "
        "the draft for it).",
    ),
    "third-party-services-are-approved-to-hold-the-data-being-sen": Given(  # must-have
        NOT_MET,
        "Preflight sends email through the configured SMTP server and reads PagerDuty, "
        "New Relic, Cloud Foundry and AWS with operators' credentials; no approval of "
        "these for the data involved is on record.",
    ),
    "automated-pen-testing-in-a-staging-environment-as-part-of-co": Given(
        PARTLY,
        "CI sends hostile input to the forms and the push API "
        "(tests/test_input_validation.py, tests/test_push_api_hostile.py), but no "
        "pen-test tool runs against a staging environment.",
    ),
    "automated-vuln-scanning-in-production-environment-that-is-fe": Given(
        NOT_MET, "Nothing scans the dependencies or the image for known vulnerabilities."
    ),
    "enable-ssl-for-everything": Given(
        PARTLY,
        "In production, pages redirect to HTTPS, HSTS is sent with preload, cookies are "
        "secure and platform secrets go only over HTTPS; but TLS ends at a proxy that is "
        "not part of the stack, and PostgreSQL, Redis and SMTP are reached without TLS "
        "by default.",
    ),
    "redirect-http-to-https": Given(
        MET,
        "With PREFLIGHT_ENV=production every page redirects plain HTTP to HTTPS; only "
        "/healthz and /readyz are exempt, for load balancers. This demo runs the "
        "development settings on plain HTTP, so its http.https_redirect check fails: a "
        "true contradiction for the demo, which a production deployment behind TLS clears.",
        "docs/operations.md → Production settings; tests/test_stack.py (plain HTTP is "
        "redirected, the probes are not); tests/test_settings.py.",
    ),
    # --- Load-testing ----------------------------------------------------------------------
    "periodic-tests-of-in-scope-components-in-a-staging-environme": Given(
        NOT_MET,
        "make load-test drives every role's pages against gunicorn with 5,000 services and "
        "make bench-evidence times a sweep, when someone runs them, and make demo pushes a "
        "small load test of itself (ci.load_test), but no load test runs in a deployment "
        "pipeline or against staging.",
    ),
    "upstream-components-are-known-to-be-load-tested-up-to-max-fo": Given(
        NOT_MET, "PostgreSQL and Redis have not been load-tested for Preflight's traffic."
    ),
    # --- Capacity-planning -----------------------------------------------------------------
    "planning-around-launch-significant-news-and-seasonal-deadlin": Given(  # must-have
        NOT_MET, "No capacity plan exists for the launch."
    ),
    "analysis-of-similar-service-traffic-in-steady-state": Given(
        NOT_MET, "No traffic has been measured or compared."
    ),
    "ideally-app-relevant-elastic-response-to-scale-up-as-needed": Given(
        NOT_MET,
        "Web and workers can be scaled by hand (GUNICORN_WORKERS, CELERY_CONCURRENCY, more "
        "containers), but nothing scales them automatically.",
    ),
    # --- Scalability -----------------------------------------------------------------------
    "each-component-has-at-least-two-instances-at-all-times": Given(  # must-have
        NOT_MET,
        "docker-compose.yml runs one container of each process, PostgreSQL and Redis "
        "included; two webs, two workers and two beats are tested together "
        "(tests/test_scale_out.py), but not deployed.",
    ),
    "each-component-horizontally-scalable-with-more-instances": Given(
        MET,
        "Web and worker processes keep no state of their own: sessions, rate limits, caches "
        "and tasks are shared through PostgreSQL and Redis, evidence files can live in an "
        "S3-compatible bucket, and a second beat's sweep stands down.",
        "docs/operations.md → Scaling out; tests/test_scale_out.py (two webs, two workers, "
        "two beats on one database and one Redis); tests/test_evidence_storage_s3.py.",
    ),
    "must-be-vertical-components-do-not-pressure-their-hosts-in-e": Given(
        NOT_MET, "PostgreSQL and Redis have not been measured under elevated traffic."
    ),
    "ideally-must-be-vertical-components-do-not-share-hosts": Given(
        NOT_MET, "Compose runs PostgreSQL, Redis and the app on one host."
    ),
    # --- Resilience ------------------------------------------------------------------------
    "instances-are-distributed-across-availability-zones": Given(
        NOT_MET, "Everything runs on one host, in one zone."
    ),
    "no-in-app-dependencies-on-the-number-distribution-of-upstrea": Given(
        MET,
        "Web and workers reach PostgreSQL and Redis through one URL each (DATABASE_URL, "
        "REDIS_URL) and assume nothing about how many instances stand behind them.",
        "docs/configuration.md; docs/operations.md → Scaling out.",
    ),
    "upstream-is-similarly-resilient-multiple-instances-in-multip": Given(
        NOT_MET, "PostgreSQL and Redis run as single instances."
    ),
    # --- Access Control --------------------------------------------------------------------
    "expected-exposure-for-alpha-beta-blue-green-environments-is": Given(  # must-have
        MET,
        "Every page needs a signed-in account except sign-in, password reset, the health "
        "endpoints and robots.txt (the push API takes a CI token); nobody signs themselves "
        "up unless ALLOW_SIGNUP is set; robots.txt disallows indexing unless "
        "ROBOTS_ALLOW_INDEXING is set; and Compose publishes the portal on 127.0.0.1 only.",
        "docs/sign-in-and-permissions.md; tests/test_role_pages.py "
        "(anonymous visitors are sent to sign in); tests/test_health.py (robots.txt).",
    ),
    "exposure-is-controlled-via-configurable-non-bespoke-proxy-eg": Given(
        PARTLY,
        "Compose publishes the portal on 127.0.0.1 only and expects a TLS proxy in front, "
        "but none is configured, so exposure rests on the app's own sign-in.",
    ),
    "a-b-cohorts-affinity-supported": Given(NOT_APPLICABLE, "Preflight runs no A/B tests."),
}
