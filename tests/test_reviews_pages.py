"""The reviews pages: who may see and do what, answering over htmx, bad input, query budgets."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from portal.accounts import services as account_services
from portal.accounts.roles import Role
from reviews.models import Answer, AnswerStatus, Review, ReviewState, Service
from reviews.services import AnswerChange, answer_update, review_start, service_create
from tests.conftest import PASSWORD
from tests.factories import ChecklistVersionFactory, ReviewFactory, UserFactory

pytestmark = pytest.mark.django_db

A = AnswerStatus
CAST = ["lead", "other_lead", "reviewer", "manager", "auditor", "admin", "nobody"]
READERS = {"lead", "reviewer", "manager", "auditor", "admin"}  # of a Benefits service
DENIED = b"You do not have access to this page"


def refused(who: str) -> int:
    """What a signed-in person who may not do something to a Benefits record gets: 404
    when they may not even read it (ids cannot be probed), else 403."""
    return 403 if who in READERS else 404


# Six items, three must-haves. Within "Operations" a plain item comes first in the file.
LAUNCH_MD = b"""# Launch readiness

## Operations
- Runbook exists
- **Backups run nightly**
- **Alerts page someone**
- Dashboards exist

## Security
- **HTTPS everywhere**
- Security contact listed
"""


def publish(md: bytes = LAUNCH_MD, name: str = "launch.md", *, published: bool = True):
    return ChecklistVersionFactory(markdown=md, filename=name, publish=published)


def big_checklist(items: int) -> bytes:
    """``items`` items over three sections, every other one a must-have."""
    lines = [f"# Big checklist {items}", ""]
    for section in range(3):
        lines.append(f"## Section {section}")
        for i in range(items // 3 + (1 if section < items % 3 else 0)):
            text = f"Item {section}-{i} is in place"
            lines.append(f"- **{text}**" if i % 2 == 0 else f"- {text}")
    return "\n".join(lines).encode()


@pytest.fixture
def version(db):
    return publish()


@pytest.fixture
def other_service(other_lead, permits_team):
    return service_create(
        by=other_lead, name="Permits portal", slug="permits-portal", team=permits_team
    )


@pytest.fixture
def review(service, version, lead):
    """The shared Benefits service (conftest's), reviewed on the six-item checklist."""
    return ReviewFactory(service=service, checklist_version=version, by=lead)


@pytest.fixture
def other_review(other_service, version, other_lead):
    return review_start(service=other_service, checklist_version=version, by=other_lead)


@pytest.fixture
def teammate(benefits_team):
    """A second product lead in the Benefits team: the 'other person' in conflicts."""
    user = UserFactory(email="teammate@example.com", password=PASSWORD)
    account_services.user_set_roles(user=user, roles=[Role.PRODUCT_LEAD], reason="test")
    account_services.team_add_members(team=benefits_team, users=[user])
    return user


def client_as(cast, client_for, who: str) -> Client:
    return Client() if who == "anonymous" else client_for(cast[who])


def assert_sent_to_sign_in(response) -> None:
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login") + "?next=")


def answer_for(review: Review, text: str) -> Answer:
    return Answer.objects.select_related("item").get(review=review, item__text=text)


def answer_url(answer: Answer, review: Review | None = None) -> str:
    return reverse("reviews:answer", args=[(review or answer.review).pk, answer.pk])


def answer_data(
    answer: Answer,
    *,
    status: str = A.MET,
    justification: str = "",
    notes: str = "",
    owner: object = "",
    revision: object = None,
) -> dict[str, str]:
    prefix = f"a{answer.pk}-"
    return {
        prefix + "status": status,
        prefix + "justification": justification,
        prefix + "notes": notes,
        prefix + "owner": str(owner),
        prefix + "revision": str(answer.revision if revision is None else revision),
    }


def post_answer(client: Client, answer: Answer, *, htmx: bool = True, url: str = "", **fields):
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(url or answer_url(answer), answer_data(answer, **fields), **extra)


def all_met(review: Review, by) -> Review:
    """Every item answered "met" (a review with nothing answered cannot be submitted)."""
    for answer in review.answers.all():
        answer_update(
            answer=answer,
            change=AnswerChange(status=A.MET, justification="", notes="", owner=None),
            based_on_revision=answer.revision,
            by=by,
        )
    return review


def unchanged(answer: Answer) -> bool:
    stored = Answer.objects.get(pk=answer.pk)
    return (stored.status, stored.notes, stored.justification, stored.revision) == (
        A.NOT_STARTED,
        "",
        "",
        1,
    )


SERVICE_FORM = {
    "name": "Claims API",
    "slug": "claims-api",
    "description": "Claims intake",
    "hosting": "aws",
    "impact_level": "moderate",
    "environments": "staging, production",
    "repository_url": "https://github.com/example/claims",
    "runbook_url": "",
    "dashboard_url": "",
    "status_page_url": "",
    "health_check_url": "https://claims.example.gov/health",
    "public_url": "",
    "cloud_account_id": "123456789012",
    "cloud_region": "us-gov-west-1",
    "cloud_role_arn": "arn:aws:iam::123456789012:role/preflight-reader",
    "project_tag": "claims",
}


# --- permission matrix: pages ---------------------------------------------------------------------


@pytest.mark.parametrize("who", [*CAST, "anonymous"])
def test_the_portfolio_shows_a_lead_their_teams_services_and_readers_all(
    cast, client_for, service, other_service, who
):
    response = client_as(cast, client_for, who).get(reverse("reviews:portfolio"))
    if who == "anonymous":
        assert_sent_to_sign_in(response)
        return
    if who == "nobody":
        assert response.status_code == 403
        return
    assert response.status_code == 200
    html = response.content.decode()
    assert ("Benefits portal" in html) == (who != "other_lead")
    assert ("Permits portal" in html) == (who != "lead")


@pytest.mark.parametrize("who", [*CAST, "anonymous"])
def test_the_new_service_form_is_for_product_leads(cast, client_for, who):
    response = client_as(cast, client_for, who).get(reverse("reviews:service_create"))
    if who == "anonymous":
        assert_sent_to_sign_in(response)
        return
    assert response.status_code == (200 if who in {"lead", "other_lead"} else 403)


@pytest.mark.parametrize("who", ["reviewer", "manager", "auditor", "admin", "nobody"])
def test_other_roles_cannot_create_services_by_posting(cast, client_for, benefits_team, who):
    data = SERVICE_FORM | {"team": benefits_team.pk}
    response = client_for(cast[who]).post(reverse("reviews:service_create"), data)
    assert response.status_code == 403
    assert not Service.objects.exists()


def test_a_lead_creates_a_service_in_their_own_team(cast, client_for, benefits_team):
    data = SERVICE_FORM | {"team": benefits_team.pk}
    response = client_for(cast["lead"]).post(reverse("reviews:service_create"), data)
    service = Service.objects.get()
    assert response.status_code == 302
    assert response["Location"] == service.get_absolute_url()
    assert (service.team, service.created_by, service.cloud_region) == (
        benefits_team,
        cast["lead"],
        "us-gov-west-1",
    )
    assert service.history.latest().history_change_reason == "Service created"


def test_a_lead_cannot_put_a_service_in_another_team(cast, client_for, permits_team):
    data = SERVICE_FORM | {"team": permits_team.pk}
    response = client_for(cast["lead"]).post(reverse("reviews:service_create"), data)
    assert response.status_code == 400
    assert "team" in response.context["form"].errors
    assert b"Select a valid choice" in response.content
    assert not Service.objects.exists()


def test_the_team_list_offers_a_lead_only_their_teams(
    cast, client_for, benefits_team, permits_team
):
    form = client_for(cast["lead"]).get(reverse("reviews:service_create")).context["form"]
    assert list(form.fields["team"].queryset) == [benefits_team]


def test_an_admin_does_not_create_services_and_is_told_who_does(cast, client_for, permits_team):
    data = SERVICE_FORM | {"team": permits_team.pk}
    response = client_for(cast["admin"]).post(reverse("reviews:service_create"), data)
    assert response.status_code == 403
    assert b"Only product leads add services" in response.content
    assert b"reviews.add_service" not in response.content
    assert not Service.objects.exists()


@pytest.mark.parametrize("who", [*CAST, "anonymous"])
def test_a_service_page_is_for_its_team_and_the_readers(cast, client_for, service, who):
    response = client_as(cast, client_for, who).get(service.get_absolute_url())
    if who == "anonymous":
        assert_sent_to_sign_in(response)
        return
    assert response.status_code == (200 if who in READERS else 404), who
    if who in READERS:
        assert b"Benefits portal" in response.content
        assert (b"Start review" in response.content) == (who == "lead")
        assert (b"Edit service" in response.content) == (who == "lead")
    else:
        assert b"Benefits portal" not in response.content


def test_an_unknown_service_is_404(cast, client_for):
    assert client_for(cast["lead"]).get("/services/no-such-thing/").status_code == 404


@pytest.mark.parametrize("who", [*CAST, "anonymous"])
def test_a_service_is_edited_only_by_its_leads(cast, client_for, service, who):
    url = reverse("reviews:service_edit", args=[service.slug])
    client = client_as(cast, client_for, who)
    response = client.get(url)
    if who == "anonymous":
        assert_sent_to_sign_in(response)
    else:
        assert response.status_code == (200 if who == "lead" else refused(who)), who
    data = SERVICE_FORM | {"name": f"Renamed by {who}", "team": service.team_id}
    response = client.post(url, data)
    name = Service.objects.get(pk=service.pk).name
    if who == "lead":
        assert response.status_code == 302
        assert name == f"Renamed by {who}"
        return
    if who == "anonymous":
        assert_sent_to_sign_in(response)
    else:
        assert response.status_code == refused(who), who
    assert name == "Benefits portal"


def test_editing_keeps_the_address(cast, client_for, service):
    url = reverse("reviews:service_edit", args=[service.slug])
    data = SERVICE_FORM | {"slug": "moved", "team": service.team_id}
    assert client_for(cast["lead"]).post(url, data).status_code == 302
    assert Service.objects.get(pk=service.pk).slug == "benefits-portal"


def test_a_lead_cannot_move_a_service_to_another_team(cast, client_for, service, permits_team):
    url = reverse("reviews:service_edit", args=[service.slug])
    data = SERVICE_FORM | {"team": permits_team.pk}
    response = client_for(cast["lead"]).post(url, data)
    assert response.status_code == 400
    assert Service.objects.get(pk=service.pk).team_id == service.team_id


@pytest.mark.parametrize("who", [*CAST, "anonymous"])
def test_only_the_owning_teams_leads_start_reviews(cast, client_for, service, version, who):
    url = reverse("reviews:review_start", args=[service.slug])
    target = (date.today() + timedelta(days=60)).isoformat()  # within the allowed 5 years
    data = {"checklist_version": version.pk, "kind": "launch", "target_date": target}
    response = client_as(cast, client_for, who).post(url, data)
    if who == "lead":
        review = Review.objects.get()
        assert response.status_code == 302
        assert response["Location"] == review.get_absolute_url()
        assert (review.service, review.created_by, review.answers.count()) == (
            service,
            cast["lead"],
            6,
        )
        return
    if who == "anonymous":
        assert_sent_to_sign_in(response)
    else:
        assert response.status_code == refused(who), who
    assert not Review.objects.exists()


def test_a_review_cannot_be_started_on_a_draft_version_over_http(cast, client_for, service):
    draft = publish(name="draft.md", published=False)
    url = reverse("reviews:review_start", args=[service.slug])
    response = client_for(cast["lead"]).post(url, {"checklist_version": draft.pk, "kind": "launch"})
    assert response.status_code == 400
    assert "checklist_version" in response.context["start_form"].errors
    assert not Review.objects.exists()


def test_starting_a_review_is_a_post(cast, client_for, service):
    url = reverse("reviews:review_start", args=[service.slug])
    assert client_for(cast["lead"]).get(url).status_code == 405


@pytest.mark.parametrize("who", [*CAST, "anonymous"])
def test_a_review_page_is_for_the_same_readers_and_only_its_leads_answer(
    cast, client_for, review, who
):
    response = client_as(cast, client_for, who).get(review.get_absolute_url())
    if who == "anonymous":
        assert_sent_to_sign_in(response)
        return
    assert response.status_code == (200 if who in READERS else 404), who
    if who in READERS:
        html = response.content.decode()
        assert "Backups run nightly" in html
        # The overview is the same compact list for everyone: no answer forms in it.
        answer = answer_for(review, "Backups run nightly")
        assert f'name="a{answer.pk}-status"' not in html, who
        assert ("data-can-edit" in html) == (who == "lead"), who
        assert ("Submit for sign-off" in html) == (who == "lead"), who
        # The item's editor answers for its leads only; the readers see it read-only.
        item = client_as(cast, client_for, who).get(
            reverse("reviews:item", args=[review.pk, answer.pk])
        )
        assert item.status_code == 200, who
        has_form = f'name="a{answer.pk}-status"' in item.content.decode()
        assert has_form == (who == "lead"), who


def test_an_unknown_review_is_404(cast, client_for):
    client = client_for(cast["lead"])
    assert client.get("/reviews/999999/").status_code == 404
    assert client.get("/reviews/99999999999999999999/").status_code == 404


# --- permission matrix: answering and actions -----------------------------------------------------


@pytest.mark.parametrize("who", [*CAST, "anonymous"])
def test_only_the_owning_teams_leads_save_answers(cast, client_for, review, who):
    answer = answer_for(review, "Runbook exists")
    response = post_answer(client_as(cast, client_for, who), answer, notes=f"by {who}")
    if who == "lead":
        assert response.status_code == 200
        assert Answer.objects.get(pk=answer.pk).notes == "by lead"
        return
    if who == "anonymous":
        assert_sent_to_sign_in(response)
    else:
        assert response.status_code == refused(who), who
    assert unchanged(answer)
    assert Review.objects.get(pk=review.pk).content_revision == 0


def test_another_teams_lead_cannot_forge_a_save_to_our_answers(
    cast, client_for, review, other_review
):
    ours = answer_for(review, "Backups run nightly")
    client = client_for(cast["other_lead"])
    # Straight at our review: not found, as for a review that does not exist.
    assert post_answer(client, ours, notes="forged").status_code == 404
    # Through their own review's address with our answer's id: not found.
    url = reverse("reviews:answer", args=[other_review.pk, ours.pk])
    assert post_answer(client, ours, url=url, notes="forged").status_code == 404
    assert unchanged(ours)
    assert Review.objects.get(pk=review.pk).content_revision == 0
    assert Review.objects.get(pk=other_review.pk).content_revision == 0


def test_an_answer_id_from_another_review_is_404(cast, client_for, review, service, version):
    second = review_start(service=service, checklist_version=version, by=cast["lead"])
    theirs = answer_for(second, "Runbook exists")
    url = reverse("reviews:answer", args=[review.pk, theirs.pk])
    response = post_answer(client_for(cast["lead"]), theirs, url=url, notes="wrong review")
    assert response.status_code == 404
    assert unchanged(theirs)
    assert Review.objects.get(pk=review.pk).content_revision == 0


def test_an_unknown_answer_id_is_404(cast, client_for, review):
    answer = answer_for(review, "Runbook exists")
    client = client_for(cast["lead"])
    for bad in ("999999", "99999999999999999999"):
        url = f"/reviews/{review.pk}/answers/{bad}/"
        assert post_answer(client, answer, url=url).status_code == 404
    assert unchanged(answer)


def test_saving_an_answer_is_a_post(cast, client_for, review):
    answer = answer_for(review, "Runbook exists")
    assert client_for(cast["lead"]).get(answer_url(answer)).status_code == 405


def test_an_answer_save_without_a_csrf_token_is_refused(cast, review):
    answer = answer_for(review, "Runbook exists")
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast["lead"])
    response = post_answer(client, answer, notes="no token")
    assert response.status_code == 403
    assert unchanged(answer)


@pytest.mark.parametrize("who", [*CAST, "anonymous"])
@pytest.mark.parametrize("action", ["submit", "withdraw"])
def test_only_the_owning_teams_leads_submit_or_withdraw(cast, client_for, review, who, action):
    all_met(review, cast["lead"])  # submittable, with nothing to confirm
    url = reverse("reviews:review_action", args=[review.pk, action])
    response = client_as(cast, client_for, who).post(url, follow=who == "lead")
    state = Review.objects.get(pk=review.pk).state
    if who == "lead":
        assert response.status_code == 200
        assert state == {"submit": "submitted", "withdraw": "withdrawn"}[action]
        assert {"submit": b"The review is submitted.", "withdraw": b"The review is withdrawn."}[
            action
        ] in response.content
        return
    if who == "anonymous":
        assert_sent_to_sign_in(response)
    else:
        assert response.status_code == refused(who), who
    assert state == ReviewState.DRAFT


def test_an_illegal_action_shows_why_and_changes_nothing(cast, client_for, review):
    client = client_for(cast["lead"])
    url = reverse("reviews:review_action", args=[review.pk, "withdraw"])
    client.post(url)
    history = review.history.count()
    response = client.post(url, follow=True)
    assert response.status_code == 200
    assert b"A withdrawn review cannot be withdrawn (allowed now: none)." in response.content
    assert Review.objects.get(pk=review.pk).state == ReviewState.WITHDRAWN
    assert review.history.count() == history
    # The page offers no actions on a withdrawn review.
    assert b"Submit for sign-off" not in response.content


def test_submitting_twice_shows_why_the_second_is_refused(cast, client_for, review):
    all_met(review, cast["lead"])
    client = client_for(cast["lead"])
    url = reverse("reviews:review_action", args=[review.pk, "submit"])
    client.post(url)
    response = client.post(url, follow=True)
    assert b"A submitted review cannot be submitted" in response.content
    assert Review.objects.get(pk=review.pk).state == ReviewState.SUBMITTED


@pytest.mark.parametrize(
    "action", ["approve", "request_changes", "reopen", "frobnicate", "x" * 300]
)
def test_actions_a_lead_may_not_take_here_are_refused_without_error(
    cast, client_for, review, action
):
    url = f"/reviews/{review.pk}/{action}/"
    response = client_for(cast["lead"]).post(url, follow=True)
    assert response.status_code == 200
    assert b"That is not something you can do to a review here." in response.content
    assert Review.objects.get(pk=review.pk).state == ReviewState.DRAFT


def test_an_action_is_a_post(cast, client_for, review):
    url = reverse("reviews:review_action", args=[review.pk, "submit"])
    assert client_for(cast["lead"]).get(url).status_code == 405
    assert Review.objects.get(pk=review.pk).state == ReviewState.DRAFT


# --- answering over HTTP --------------------------------------------------------------------------


def test_an_htmx_save_returns_the_row_and_the_new_summary(cast, client_for, review):
    client = client_for(cast["lead"])
    assert client.get(review.get_absolute_url()).status_code == 200
    answer = answer_for(review, "Runbook exists")

    response = post_answer(client, answer, status=A.MET, notes="In the wiki", owner=cast["lead"].pk)

    assert response.status_code == 200
    # Nothing the person is typing is swapped: the row, the summary and the form's
    # revision come back out of band.
    assert response["HX-Reswap"] == "none"
    html = response.content.decode()
    assert "<html" not in html
    row = rf'<div class="preflight-row" id="row-{answer.pk}"[^>]*hx-swap-oob="true"'
    assert re.search(row, html)
    assert "Saved." in html
    assert re.search(r'<div id="review-summary"[^>]*hx-swap-oob="true"', html)
    assert "Readiness 16%" in html and "1 of 6 met" in html
    # The next save from the same form is based on the new revision.
    assert re.search(
        rf'<input type="hidden" name="a{answer.pk}-revision" value="2"[^>]*hx-swap-oob="true"',
        html,
    )
    stored = Answer.objects.get(pk=answer.pk)
    assert (stored.status, stored.notes, stored.owner, stored.revision) == (
        A.MET,
        "In the wiki",
        cast["lead"],
        2,
    )


def test_consecutive_htmx_saves_from_the_returned_row_go_through(cast, client_for, review):
    client = client_for(cast["lead"])
    answer = answer_for(review, "Runbook exists")
    assert post_answer(client, answer, status=A.MET, revision=1).status_code == 200
    response = post_answer(client, answer, status=A.PARTIALLY_MET, revision=2)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Readiness 0%" in html and "0 of 6 met" in html
    assert Answer.objects.get(pk=answer.pk).revision == 3


def test_a_save_without_htmx_redirects_back_with_a_message(cast, client_for, review):
    client = client_for(cast["lead"])
    answer = answer_for(review, "Runbook exists")
    response = post_answer(client, answer, htmx=False, status=A.MET)
    assert response.status_code == 302
    assert response["Location"] == f"{review.get_absolute_url()}#answer-{answer.pk}"
    page = client.get(response["Location"])
    assert b"Answer saved." in page.content
    assert b"Readiness 16%" in page.content


@pytest.mark.parametrize(
    ("text", "fields", "message"),
    [
        (
            "Runbook exists",
            {"status": A.NOT_APPLICABLE},
            "Say why this item does not apply.",
        ),
        (
            "Backups run nightly",
            {"status": A.NOT_MET, "justification": "   "},
            "A must-have that is not met needs a justification.",
        ),
        ("Runbook exists", {"status": "done"}, "Select a valid choice."),
        ("Runbook exists", {"status": ""}, "This field is required."),
        ("Runbook exists", {"owner": "other_lead"}, "Select a valid choice."),
        ("Runbook exists", {"owner": "abc"}, "Select a valid choice."),
        ("Runbook exists", {"notes": "x" * 10_001}, "at most 10000 characters"),
        ("Runbook exists", {"justification": "x" * 5_001}, "at most 5000 characters"),
        ("Runbook exists", {"notes": "nul \x00 byte"}, "Remove the control character (U+0000)"),
    ],
    ids=[
        "n/a-without-justification",
        "must-have-not-met-blank-justification",
        "status-not-in-list",
        "status-missing",
        "owner-outside-the-team",
        "owner-not-a-number",
        "oversized-notes",
        "oversized-justification",
        "nul-byte",
    ],
)
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_invalid_answers_are_422_with_a_clear_message_and_nothing_saved(
    cast, client_for, review, text, fields, message, htmx
):
    answer = answer_for(review, text)
    fields = dict(fields)
    if fields.get("owner") == "other_lead":
        fields["owner"] = cast["other_lead"].pk
    response = post_answer(client_for(cast["lead"]), answer, htmx=htmx, **fields)
    assert response.status_code == 422
    html = response.content.decode()
    assert message in html
    assert ("<html" in html) == (not htmx)
    if not htmx:
        assert "The answer was not saved: see the item below." in html
    assert unchanged(answer)
    assert Review.objects.get(pk=review.pk).content_revision == 0


@pytest.mark.parametrize("revision", ["abc", "", "0", "-3", "1.5"])
def test_a_broken_revision_is_422_and_saves_nothing(cast, client_for, review, revision):
    answer = answer_for(review, "Runbook exists")
    response = post_answer(client_for(cast["lead"]), answer, revision=revision)
    assert response.status_code == 422
    assert unchanged(answer)


@pytest.mark.parametrize("revision", ["abc", ""])
def test_a_broken_revision_says_what_went_wrong(cast, client_for, review, revision):
    answer = answer_for(review, "Runbook exists")
    response = post_answer(client_for(cast["lead"]), answer, revision=revision)
    assert response.status_code == 422
    assert 'role="alert"' in response.content.decode()


def test_the_htmx_save_then_the_button_is_one_save_and_no_conflict(cast, client_for, review):
    """Typing a note, then pressing the row's Save: the htmx save on leaving the field
    and the button both send revision 1 with the same content."""
    answer = answer_for(review, "Backups run nightly")
    client = client_for(cast["lead"])
    typed = {"status": A.MET, "notes": "Nightly snapshots", "revision": 1}
    assert post_answer(client, answer, **typed).status_code == 200
    button = post_answer(client, answer, htmx=False, **typed)
    assert button.status_code in (200, 302)
    assert "while you were editing it" not in button.content.decode()
    stored = Answer.objects.get(pk=answer.pk)
    assert (stored.revision, stored.notes) == (2, "Nightly snapshots")


def test_a_stale_save_is_409_keeping_what_i_typed_and_showing_theirs(
    cast, client_for, review, teammate
):
    answer = answer_for(review, "Backups run nightly")
    mine = {
        "status": A.NOT_MET,
        "justification": "Mine: waiting on the vendor",
        "notes": "My typed notes",
        "revision": 1,
    }
    # The teammate saves first, from the same revision 1.
    theirs = client_for(teammate)
    assert (
        post_answer(theirs, answer, status=A.MET, notes="Theirs: nightly snapshots").status_code
        == 200
    )

    client = client_for(cast["lead"])
    response = post_answer(client, answer, **mine)

    assert response.status_code == 409
    html = response.content.decode()
    assert "<html" not in html
    assert "teammate@example.com saved this answer while you were editing it." in html
    assert "Their version: Met; notes “Theirs: nightly snapshots”" in html
    assert "My typed notes</textarea>" in html
    assert "Mine: waiting on the vendor</textarea>" in html
    assert '<option value="not_met" selected>' in html
    assert f'name="a{answer.pk}-revision" value="2"' in html
    assert "Saved." not in html
    stored = Answer.objects.get(pk=answer.pk)
    assert (stored.status, stored.notes, stored.revision) == (A.MET, "Theirs: nightly snapshots", 2)
    assert "Readiness 16%" in html  # the summary still shows their save

    # Saving again from the form that came back is a deliberate overwrite, and wins.
    response = post_answer(client, answer, **(mine | {"revision": 2}))
    assert response.status_code == 200
    stored = Answer.objects.get(pk=answer.pk)
    assert (stored.status, stored.justification, stored.notes, stored.revision) == (
        A.NOT_MET,
        "Mine: waiting on the vendor",
        "My typed notes",
        3,
    )
    assert stored.updated_by == cast["lead"]


def test_a_stale_save_without_htmx_is_a_409_page(cast, client_for, review, teammate):
    answer = answer_for(review, "Runbook exists")
    answer_update(
        answer=answer,
        change=AnswerChange(status=A.MET, justification="", notes="theirs", owner=None),
        based_on_revision=1,
        by=teammate,
    )
    response = post_answer(client_for(cast["lead"]), answer, htmx=False, notes="mine", revision=1)
    assert response.status_code == 409
    html = response.content.decode()
    assert "<html" in html
    assert "The answer was not saved: see the item below." in html
    assert "theirs" in html and ">\nmine</textarea>" in html
    assert Answer.objects.get(pk=answer.pk).notes == "theirs"


@pytest.mark.parametrize("state", [ReviewState.SUBMITTED, ReviewState.WITHDRAWN])
def test_answers_of_a_submitted_or_withdrawn_review_are_refused_over_http(
    cast, client_for, review, state
):
    Review.objects.filter(pk=review.pk).update(state=state)
    answer = answer_for(review, "Runbook exists")
    response = post_answer(client_for(cast["lead"]), answer, status=A.MET)
    assert response.status_code == 409
    assert "answers cannot be changed now" in response.content.decode()
    assert unchanged(answer)


def test_a_submitted_review_offers_withdrawing_but_not_submitting(cast, client_for, review):
    all_met(review, cast["lead"])
    client = client_for(cast["lead"])
    client.post(reverse("reviews:review_action", args=[review.pk, "submit"]))
    html = client.get(review.get_absolute_url()).content.decode()
    assert "Withdraw" in html
    assert "Submit for sign-off" not in html


@pytest.mark.parametrize("action", ["submit", "withdraw"])
def test_a_review_closed_to_edits_shows_no_answer_forms(cast, client_for, review, action):
    all_met(review, cast["lead"])
    client = client_for(cast["lead"])
    client.post(reverse("reviews:review_action", args=[review.pk, action]))
    closed = {"submit": ReviewState.SUBMITTED, "withdraw": ReviewState.WITHDRAWN}[action]
    assert Review.objects.get(pk=review.pk).state == closed
    html = client.get(review.get_absolute_url()).content.decode()
    assert "Backups run nightly" in html
    assert "hx-post=" not in html
    assert "data-can-edit" not in html
    answer = answer_for(review, "Runbook exists")
    item = client.get(reverse("reviews:item", args=[review.pk, answer.pk])).content.decode()
    assert "Runbook exists" in item
    assert f'name="a{answer.pk}-status"' not in item
    assert "Add evidence" not in item


def test_editing_an_approved_review_over_http_asks_first_then_reopens_it(cast, client_for, review):
    Review.objects.filter(pk=review.pk).update(state=ReviewState.APPROVED)
    answer = answer_for(review, "Runbook exists")
    client = client_for(cast["lead"])
    refused = post_answer(client, answer, status=A.MET)
    assert refused.status_code == 409
    assert "tick “Reopen the review”" in refused.content.decode()
    assert unchanged(answer)
    assert Review.objects.get(pk=review.pk).state == ReviewState.APPROVED

    url = answer_url(answer)
    data = answer_data(answer, status=A.MET) | {"reopen": "yes"}
    assert client.post(url, data, HTTP_HX_REQUEST="true").status_code == 200
    assert Review.objects.get(pk=review.pk).state == ReviewState.DRAFT
    assert Answer.objects.get(pk=answer.pk).status == A.MET


# --- hostile input --------------------------------------------------------------------------------

SCRIPT = '<script>alert("pwned")</script>'
ESCAPED = "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;"


@pytest.mark.parametrize("who", ["lead", "reviewer"])
def test_script_in_answers_is_stored_as_text_and_shown_escaped(cast, client_for, review, who):
    answer = answer_for(review, "Runbook exists")
    response = post_answer(
        client_for(cast["lead"]),
        answer,
        status=A.NOT_APPLICABLE,
        justification=SCRIPT,
        notes=f"notes {SCRIPT}",
    )
    assert response.status_code == 200
    assert SCRIPT not in response.content.decode()
    stored = Answer.objects.get(pk=answer.pk)
    assert (stored.justification, stored.notes) == (SCRIPT, f"notes {SCRIPT}")

    client = client_for(cast[who])
    # The overview shows no justification or notes; the item's page shows both.
    assert SCRIPT not in client.get(review.get_absolute_url()).content.decode()
    for htmx in (False, True):
        extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        item = client.get(reverse("reviews:item", args=[review.pk, answer.pk]), **extra)
        html = item.content.decode()
        assert SCRIPT not in html
        assert ESCAPED in html
        assert f"notes {ESCAPED}" in html


def test_script_in_a_conflicting_answer_is_escaped_too(cast, client_for, review, teammate):
    answer = answer_for(review, "Runbook exists")
    answer_update(
        answer=answer,
        change=AnswerChange(
            status=A.NOT_APPLICABLE, justification=SCRIPT, notes=SCRIPT, owner=None
        ),
        based_on_revision=1,
        by=teammate,
    )
    response = post_answer(client_for(cast["lead"]), answer, notes=SCRIPT, revision=1)
    assert response.status_code == 409
    html = response.content.decode()
    assert SCRIPT not in html
    assert ESCAPED in html


def test_a_service_name_with_script_is_escaped(cast, client_for, benefits_team):
    data = SERVICE_FORM | {"team": benefits_team.pk, "name": SCRIPT, "description": SCRIPT}
    client = client_for(cast["lead"])
    assert client.post(reverse("reviews:service_create"), data).status_code == 302
    for url in (reverse("reviews:portfolio"), Service.objects.get().get_absolute_url()):
        html = client.get(url).content.decode()
        assert SCRIPT not in html
        assert ESCAPED in html


# --- filters --------------------------------------------------------------------------------------


def shown(html: str, review: Review) -> list[str]:
    """The item texts on the page, in page order."""
    answers = review.answers.select_related("item")
    positions = {a.item.text: html.find(f'id="answer-{a.pk}"') for a in answers}
    return [text for text, at in sorted(positions.items(), key=lambda p: p[1]) if at >= 0]


@pytest.fixture
def answered(review, lead):
    """Backups met, Alerts not met, HTTPS not applicable, Runbook met; two not started."""
    for text, status, why in [
        ("Backups run nightly", A.MET, ""),
        ("Alerts page someone", A.NOT_MET, "Pager contract next week"),
        ("HTTPS everywhere", A.NOT_APPLICABLE, "No web traffic"),
        ("Runbook exists", A.MET, ""),
    ]:
        answer_update(
            answer=answer_for(review, text),
            change=AnswerChange(status=status, justification=why, notes="", owner=None),
            based_on_revision=1,
            by=lead,
        )
    return review


@pytest.mark.parametrize("who", ["lead", "reviewer"])
def test_every_item_shows_with_must_haves_first_in_each_section(cast, client_for, answered, who):
    html = client_for(cast[who]).get(answered.get_absolute_url()).content.decode()
    assert shown(html, answered) == [
        "Backups run nightly",
        "Alerts page someone",
        "Runbook exists",
        "Dashboards exist",
        "HTTPS everywhere",
        "Security contact listed",
    ]
    assert html.index(">Operations <span") < html.index(">Security <span")


def test_the_open_must_haves_filter(cast, client_for, answered):
    url = answered.get_absolute_url() + "?show=open-must-haves"
    html = client_for(cast["lead"]).get(url).content.decode()
    assert shown(html, answered) == ["Alerts page someone"]
    assert ">Security <span" not in html  # a section with nothing to show is left out
    assert re.search(r'href="\?show=open-must-haves"[^>]*aria-current="page"', html)


def test_the_not_started_filter(cast, client_for, answered):
    url = answered.get_absolute_url() + "?show=not-started"
    html = client_for(cast["reviewer"]).get(url).content.decode()
    assert shown(html, answered) == ["Dashboards exist", "Security contact listed"]


@pytest.mark.parametrize("show", ["everything", "", "<script>", "open-must-haves'--", "ALL"])
def test_an_unknown_filter_shows_every_item(cast, client_for, answered, show):
    response = client_for(cast["lead"]).get(answered.get_absolute_url(), {"show": show})
    assert response.status_code == 200
    assert len(shown(response.content.decode(), answered)) == 6
    assert re.search(r'href="\?show=all"[^>]*aria-current="page"', response.content.decode())


def test_a_filter_with_no_matches_says_so(cast, client_for, review, lead):
    for answer in review.answers.select_related("item"):
        answer_update(
            answer=answer,
            change=AnswerChange(status=A.MET, justification="", notes="", owner=None),
            based_on_revision=1,
            by=lead,
        )
    url = review.get_absolute_url() + "?show=open-must-haves"
    html = client_for(cast["lead"]).get(url).content.decode()
    assert "No must-have is open." in html
    assert "0 items: open must-haves" in html
    assert "Readiness 100%" in html


# --- query budgets --------------------------------------------------------------------------------


# The review page (the overview) for the owning lead, on a first visit:
#   1 session, 2 user, 3 the user's roles (groups),
#   4 the review and its service (who may read it),
#   5 the user's team ids (may they answer?),
#   6 the person's last visit, 7-9 noting this one (savepoint, insert, release),
#  10 review + service + team + checklist version + checklist + created_by,
#  11 the service's automated check results (latest and standing),
#  12 the page's row count, 13 the section index's progress (one grouped query),
#  14 one page of rows (items, sections, owners; evidence and comment counts and the
#     latest exception as subqueries),
#  15 sign-offs, 16 launch audits, 17 the review's latest journal notes.
LEAD_REVIEW_PAGE_QUERIES = 17
# A reader never answers: no team ids; the MFA policy is read instead (reviewers are
# privileged users).
READER_REVIEW_PAGE_QUERIES = 17


def review_of(service: Service, items: int, lead) -> Review:
    version = publish(big_checklist(items), name=f"big-{items}.md")
    review = review_start(service=service, checklist_version=version, by=lead)
    assert review.item_count == items
    for answer in review.answers.select_related("item")[:3]:  # some owners to show
        answer_update(
            answer=answer,
            change=AnswerChange(status=A.MET, justification="", notes="n", owner=lead),
            based_on_revision=1,
            by=lead,
        )
    return review


@pytest.mark.parametrize(
    ("who", "budget"),
    [("lead", LEAD_REVIEW_PAGE_QUERIES), ("reviewer", READER_REVIEW_PAGE_QUERIES)],
)
def test_the_review_page_costs_the_same_at_150_items_as_at_5(
    cast, client_for, service, django_assert_num_queries, who, budget
):
    small, big = review_of(service, 5, cast["lead"]), review_of(service, 150, cast["lead"])
    client = client_for(cast[who])
    client.get(reverse("checklists:library"))  # settle the session
    for review, items in ((small, 5), (big, 150)):
        with django_assert_num_queries(budget):
            response = client.get(review.get_absolute_url())
        assert response.status_code == 200
        # One page of rows (workspace.PAGE_SIZE): the rest are a page away.
        shown_rows = min(items, 100)
        assert response.content.decode().count('<li class="preflight-item') == shown_rows


@pytest.mark.parametrize("services", [1, 25])
def test_the_portfolio_costs_the_same_as_services_grow(
    cast, client_for, benefits_team, version, django_assert_num_queries, services
):
    lead = cast["lead"]
    for n in range(services):
        service = service_create(
            by=lead, name=f"Service {n}", slug=f"service-{n}", team=benefits_team
        )
        review_start(service=service, checklist_version=version, by=lead)
        review_start(service=service, checklist_version=version, by=lead, kind="periodic")
    client = client_for(lead)
    client.get(reverse("checklists:library"))
    # 1 session, 2 user, 3 roles, 4 teams and 5 checklists for the filters, 6 team ids,
    # 7 the rows' count, 8 the page's rows, 9 the tiles.
    with django_assert_num_queries(9):
        response = client.get(reverse("reviews:portfolio"))
    assert response.status_code == 200
    # Each service shows its current (newest) review.
    assert response.content.decode().count(">Launch readiness v1</a>") == services


# --- the service form -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cloud_account_id", "12345", "An AWS account id is 12 digits."),
        ("cloud_account_id", "12345678901a", "An AWS account id is 12 digits."),
        ("cloud_region", "useast1", "A region looks like us-east-1."),
        ("cloud_region", "US-EAST-1", "A region looks like us-east-1."),
        ("cloud_role_arn", "arn:aws:iam::123:role/x", "A role ARN looks like"),
        ("cloud_role_arn", "arn:aws:s3:::bucket", "A role ARN looks like"),
        ("health_check_url", "not a url", "Enter a valid URL."),
        ("repository_url", "javascript:alert(1)", "Use an address git can read over https"),
        ("public_url", "ftp//nowhere", "Enter a valid URL."),
        ("slug", "new", "is reserved"),
        ("slug", "Has Spaces", "Enter a valid “slug”"),
        ("name", "", "This field is required."),
        ("name", "x" * 201, "at most 200 characters"),
        ("hosting", "mainframe", "Select a valid choice."),
        ("description", "nul \x00", "Remove the control character (U+0000)"),
    ],
)
def test_bad_service_fields_are_refused_and_nothing_is_saved(
    cast, client_for, benefits_team, field, value, message
):
    data = SERVICE_FORM | {"team": benefits_team.pk, field: value}
    response = client_for(cast["lead"]).post(reverse("reviews:service_create"), data)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert message in response.content.decode()
    assert not Service.objects.exists()


@pytest.mark.parametrize("slug", ["Claims-API", "NEW", "under_score"])
def test_a_slug_is_lower_case_letters_digits_and_dashes(cast, client_for, benefits_team, slug):
    data = SERVICE_FORM | {"team": benefits_team.pk, "slug": slug}
    response = client_for(cast["lead"]).post(reverse("reviews:service_create"), data)
    assert response.status_code == 400
    assert not Service.objects.exists()


def test_a_duplicate_slug_is_refused(cast, client_for, service, benefits_team):
    data = SERVICE_FORM | {"team": benefits_team.pk, "slug": service.slug, "name": "Copy"}
    response = client_for(cast["lead"]).post(reverse("reviews:service_create"), data)
    assert response.status_code == 400
    assert "slug" in response.context["form"].errors
    assert Service.objects.count() == 1


def test_a_bare_url_is_taken_as_https(cast, client_for, benefits_team):
    data = SERVICE_FORM | {"team": benefits_team.pk, "runbook_url": "wiki.example.gov/runbook"}
    assert client_for(cast["lead"]).post(reverse("reviews:service_create"), data).status_code == 302
    assert Service.objects.get().runbook_url == "https://wiki.example.gov/runbook"


def test_bad_fields_on_edit_are_refused_and_nothing_changes(cast, client_for, service):
    url = reverse("reviews:service_edit", args=[service.slug])
    data = SERVICE_FORM | {"team": service.team_id, "name": "Renamed", "cloud_region": "mars"}
    response = client_for(cast["lead"]).post(url, data)
    assert response.status_code == 400
    assert "cloud_region" in response.context["form"].errors
    assert Service.objects.get(pk=service.pk).name == "Benefits portal"
