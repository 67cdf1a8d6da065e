"""A made-up record of millions of lines, for benchmarks (`make bench-history`).

Lines are written by PostgreSQL itself (``INSERT ... SELECT generate_series``): millions of
changes through the services would take hours, and a benchmark of reading needs the
record's shape, not its history. The shape: lines three to a moment (a request changes
several records at once), every tenth a security event, one busy service holding a tenth
of the rest (its timeline is always a full page), the others spread over many services,
reviews and answers, and one of a few people behind each line.

Seeded lines are not chained: their hashes are made up, so ``verify_record`` refuses such
a database (it is a scratch one, made afresh by the Makefile).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from portal.accounts import services as accounts
from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.audit.models import Entry

SOURCE = "bench_seed"  # the source_table of seeded lines
BUSY_SERVICE = 1  # "reviews.service:1" roots a tenth of the lines
SERVICES = 500
PEOPLE = 20
STEP_SECONDS = 45  # between moments; three lines to a moment

# g is the line's number, 1 for the newest. Column by column, what a line holds.
_FILL = """
INSERT INTO audit_entry (
    at, record_type, record_id, record_label, change, changes, reason, actor_id,
    actor_label, request_id, ip_address, root, branch, source_table, source_id,
    content_hash, prev_hash, chain_hash
)
SELECT
    %(newest)s::timestamptz - ((g / 3) * %(step)s) * interval '1 second',
    kind.record_type,
    kind.record_id,
    kind.record_type || ' ' || kind.record_id,
    CASE WHEN g %% 10 = 0 THEN 'login_succeeded' WHEN g %% 7 = 0 THEN 'created' ELSE 'changed' END,
    CASE WHEN g %% 10 = 0 THEN '{}'::jsonb
         ELSE jsonb_build_object('status', jsonb_build_array('not_started', 'met'),
                                 'notes', jsonb_build_array('', 'Checked on ' || g),
                                 'revision', jsonb_build_array(g %% 9, g %% 9 + 1)) END,
    CASE WHEN g %% 10 = 0 THEN 'Sign-in succeeded' ELSE 'Answer saved' END,
    (%(people)s::bigint[])[1 + g %% %(count)s],
    (%(emails)s::text[])[1 + g %% %(count)s],
    md5((g / 3)::text),
    ('10.0.' || (g %% 250) || '.' || (g %% 200 + 1))::inet,
    kind.root,
    kind.branch,
    %(source)s,
    g,
    md5(g::text) || md5((g + 1)::text),
    md5((g - 1)::text) || md5(g::text),
    md5(g::text) || md5((g - 1)::text)
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
CROSS JOIN LATERAL (
    SELECT
        CASE WHEN g %% 10 = 0 THEN 'audit.event'
             WHEN g %% 10 = 1 AND g %% 40 = 1 THEN 'reviews.service'
             WHEN g %% 3 = 0 THEN 'reviews.review'
             ELSE 'reviews.answer' END AS record_type,
        CASE WHEN g %% 10 = 0 THEN g::text
             WHEN g %% 10 = 1 AND g %% 40 = 1 THEN %(busy)s::text
             ELSE (g %% 100000)::text END AS record_id,
        CASE WHEN g %% 10 = 0 THEN ''
             WHEN g %% 10 = 1 THEN 'reviews.service:' || %(busy)s
             ELSE 'reviews.service:' || (2 + g %% %(services)s) END AS root,
        CASE WHEN g %% 10 = 0 THEN 'accounts.user:' || (g %% 50)
             WHEN g %% 40 = 1 THEN ''
             ELSE 'reviews.review:' || (g %% 7919) END AS branch
) AS kind
"""


@dataclass(frozen=True)
class People:
    reader: User  # an auditor, to read the record as
    actors: list[User]  # who made the seeded changes


def seed_people() -> People:
    """An auditor to read as and a few people to have made the changes (made through the
    account services, so their own lines are real)."""
    reader, created = User.objects.get_or_create(email="bench-auditor@example.com")
    if created:
        reader.set_unusable_password()
        reader.save()
        accounts.user_set_roles(user=reader, roles={Role.AUDITOR}, reason="Benchmark reader")
    actors = []
    for n in range(PEOPLE):
        actor, _ = User.objects.get_or_create(email=f"bench-person-{n}@example.com")
        actors.append(actor)
    return People(reader, actors)


def seeded() -> int:
    """How many lines the seed has written (the highest number: lines go in order)."""
    found = (
        Entry.objects.filter(source_table=SOURCE)
        .order_by("-source_id")
        .values_list("source_id", flat=True)
        .first()
    )
    return int(found or 0)


def seed_lines(total: int, people: People, *, batch: int = 250_000) -> int:
    """Fill the record up to ``total`` seeded lines, ``batch`` at a time, older than the
    ones already seeded; returns how many were added. Statistics are refreshed after, so
    the planner reads the record as it now is."""
    start = seeded() + 1
    newest = _newest(start)
    for first in range(start, total + 1, batch):
        last = min(first + batch - 1, total)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                _FILL,
                {
                    "newest": newest,
                    "step": STEP_SECONDS,
                    "people": [person.pk for person in people.actors],
                    "emails": [person.email for person in people.actors],
                    "count": len(people.actors),
                    "source": SOURCE,
                    "first": first,
                    "last": last,
                    "busy": BUSY_SERVICE,
                    "services": SERVICES - 1,
                },
            )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) audit_entry")
    return max(0, total - start + 1)


def _newest(start: int) -> datetime:
    """The moment of line 1: the first seeding takes now; later ones continue its clock."""
    if start == 1:
        return timezone.now().replace(microsecond=0)
    first = Entry.objects.filter(source_table=SOURCE, source_id=1).values_list("at", flat=True)
    return first.get()
