"""The *Permissions* table (docs/sign-in-and-permissions.md) and portal/permissions.py say
the same thing.

Each row of the table maps to the permissions it stands for; every permission the portal
defines must be in a row, so a new rule cannot go undocumented, and every cell must match
what ``can`` answers for that role.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rules.permissions import permissions as ruleset

from portal.permissions import DENIALS, can
from reviews.models import AuditSession, JournalNote, Review

PAGE = Path(__file__).resolve().parent.parent / "docs" / "sign-in-and-permissions.md"
COLUMNS = {
    "product lead, own team": "lead",
    "product lead, other team": "other_lead",
    "security reviewer": "reviewer",
    "manager": "manager",
    "auditor": "auditor",
    "admin": "admin",
}
# Table row -> the permissions it stands for, each on a service, a review or nothing.
ROWS = {
    "read the service, its reviews, evidence and check results": [
        ("reviews.view_service", "service"),
        ("reviews.view_review", "review"),
    ],
    "add services (to their own teams)": [("reviews.add_service", None)],
    "edit the service": [("reviews.change_service", "service")],
    "run its checks now": [("reviews.run_checks", "service")],
    "create CI tokens for it": [("reviews.manage_tokens", "service")],
    "revoke its CI tokens": [("reviews.revoke_token", "service")],
    "start, answer, add evidence, request exceptions, submit and withdraw reviews": [
        ("reviews.start_review", "service"),
        ("reviews.change_review", "review"),
    ],
    "comment on a review": [("reviews.comment", "review")],
    "sign off a review": [("reviews.sign_review", "review")],
    "approve or refuse exceptions": [("reviews.decide_waiver", "review")],
    "record launch audits of a review": [("reviews.record_audit", "review")],
    "edit a launch audit they recorded": [("reviews.change_audit", "their launch audit")],
    "write journal notes on the service and its reviews": [
        ("reviews.write_journal", "service"),
        ("reviews.write_journal", "review"),
    ],
    "edit a journal note they wrote": [("reviews.change_journal_note", "their journal note")],
    "see the check runs": [("reviews.view_check_runs", None)],
    "use the review queue": [("reviews.view_review_queue", None)],
    "use the portfolio (product leads: their teams' services)": [("reviews.view_portfolio", None)],
    "read the activity record": [("audit.view_activity", None)],
    "read a service's history (its timeline and its records')": [
        ("audit.view_timeline", "service")
    ],
    "export the whole record": [("audit.export_record", None)],
    "export the record of the services they may read": [("audit.export_portfolio", None)],
    "verify the record has not been altered": [("audit.verify_record", None)],
    "manage checklists": [("checklists.manage", None)],
    "manage people, teams, roles, the security policy and platform connections": [
        ("accounts.administer", None),
        ("reviews.manage_connections", None),
        # The Django admin's pages for them (and security events; the beat schedule's
        # permissions are another app's, outside this table).
        ("accounts.view_user", None),
        ("accounts.add_user", None),
        ("accounts.change_user", None),
        ("accounts.view_team", None),
        ("accounts.add_team", None),
        ("accounts.change_team", None),
        ("accounts.view_securitypolicy", None),
        ("accounts.change_securitypolicy", None),
        ("audit.view_auditevent", None),
    ],
}
# Pages every signed-in person (or every product lead) has, outside the table.
EVERYONE = {"checklists.view_library"}


def documented_table() -> dict[str, dict[str, bool]]:
    text = PAGE.read_text(encoding="utf-8")
    section = text.split("## Permissions", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    table = {}
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        table[cells[0]] = {
            COLUMNS[name]: cell == "yes" for name, cell in zip(header[1:], cells[1:], strict=True)
        }
    return table


def test_the_table_has_exactly_the_documented_rows_and_columns():
    table = documented_table()
    assert set(table) == set(ROWS)
    assert all(set(cells) == set(COLUMNS.values()) for cells in table.values())


def test_every_permission_the_portal_defines_is_in_the_table():
    defined = {
        name
        for name in ruleset
        if name.split(".")[0] in {"reviews", "audit", "accounts", "checklists"}
    }
    documented = {perm for row in ROWS.values() for perm, _ in row} | EVERYONE
    assert defined == documented


@pytest.fixture
def records(service, review, cast):
    """What each permission is asked about: conftest's Benefits service and its review;
    for "they recorded" and "they wrote", one (unsaved) record per person, theirs."""
    review = Review.objects.get(pk=review.pk)
    return {
        "service": service,
        "review": review,
        None: None,
        "their launch audit": {
            who: AuditSession(review=review, recorded_by=person) for who, person in cast.items()
        },
        "their journal note": {
            who: JournalNote(service=service, review=review, author=person)
            for who, person in cast.items()
        },
    }


@pytest.mark.parametrize("row", list(ROWS))
def test_each_cell_of_the_table_is_what_the_rules_answer(cast, records, row):
    expected = documented_table()[row]
    for who, allowed in expected.items():
        for perm, on in ROWS[row]:
            record = records[on][who] if isinstance(records[on], dict) else records[on]
            assert can(cast[who], perm, record) == allowed, (row, who, perm)


def test_every_refusal_says_in_words_who_may_never_the_permission_code():
    code = re.compile(r"\b(reviews|audit|accounts|checklists)\.[a-z_]+\b")
    for perm in {perm for row in ROWS.values() for perm, _ in row} | EVERYONE:
        if perm == "checklists.view_library":
            continue  # every signed-in person may: never refused
        assert perm in DENIALS, perm
        assert not code.search(DENIALS[perm]), perm
