"""The read API: the same rules as the pages for every role, one error shape, one
pagination style, constant query counts, and an OpenAPI document that validates and
lists every route.

Every read is made twice, with the browser session and with a personal API token of the
same person: both must answer what the page answers that person.
"""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from openapi_spec_validator import validate

from checklists.parsers import parse_file
from checklists.services import checklist_import
from portal.accounts.services import api_token_create
from portal.api.pagination import PAGE_SIZE
from portal.api.urls import api
from reviews import services as review_services
from reviews.checks.services import token_create
from reviews.models import AnswerStatus, Service
from tests.factories import AnswerFactory, ChecklistVersionFactory, ReviewFactory, ServiceFactory

pytestmark = pytest.mark.django_db

WHO = ["lead", "other_lead", "reviewer", "manager", "auditor", "admin", "nobody"]


@pytest.fixture
def token_client():
    """A client that reads with a new personal API token of the given user (no session)."""

    def make(user) -> Client:
        plain = api_token_create(user=user, name="tests")[1]
        return Client(HTTP_AUTHORIZATION=f"Bearer {plain}")

    return make


@pytest.fixture(params=["session", "token"])
def reader(request, client_for, token_client):
    """Signed in either way the read API takes: the session, or a personal token."""
    return client_for if request.param == "session" else token_client


def assert_error(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str) and body["error"]
    for word in words:
        assert word in body["error"], body["error"]


# --- the same rules as the pages, role by role -----------------------------------------------


def _routes(service, review, version):
    """Each read operation and the page whose rules it follows."""
    checklist = version.checklist.slug
    return {
        "/api/v1/services": "/portfolio/",
        f"/api/v1/services/{service.slug}": f"/services/{service.slug}/",
        f"/api/v1/services/{service.slug}/readiness": f"/services/{service.slug}/",
        f"/api/v1/reviews/{review.pk}": f"/reviews/{review.pk}/",
        "/api/v1/portfolio": "/portfolio/",
        "/api/v1/portfolio/readiness": "/portfolio/",
        "/api/v1/checklists": "/checklists/",
        f"/api/v1/checklists/{checklist}/versions/{version.number}": (
            f"/checklists/{checklist}/v{version.number}/"
        ),
    }


@pytest.mark.parametrize("who", WHO)
def test_every_read_answers_each_role_what_its_page_answers(cast, client_for, reader, review, who):
    service, version = review.service, review.checklist_version
    api_client, page_client = reader(cast[who]), client_for(cast[who])
    for path, page in _routes(service, review, version).items():
        expected = page_client.get(page).status_code
        assert expected in (200, 403, 404), (page, expected)
        response = api_client.get(path)
        if expected == 200:
            assert response.status_code == 200, (who, path, response.content[:200])
            assert response["Content-Type"].startswith("application/json")
        else:
            assert_error(response, expected)


def test_the_roles_decide_exactly_as_the_permissions_table_says(cast, reader, review):
    """Spelled out, so a change of the pages' rules shows here too."""
    service = review.service
    for who, detail, lists in [
        ("lead", 200, 200),
        ("other_lead", 404, 200),
        ("reviewer", 200, 200),
        ("manager", 200, 200),
        ("auditor", 200, 200),
        ("admin", 200, 200),
        ("nobody", 404, 403),
    ]:
        client = reader(cast[who])
        assert client.get(f"/api/v1/services/{service.slug}").status_code == detail, who
        assert client.get(f"/api/v1/reviews/{review.pk}").status_code == detail, who
        assert client.get("/api/v1/services").status_code == lists, who
        assert client.get("/api/v1/portfolio").status_code == lists, who
        assert client.get("/api/v1/checklists").status_code == 200, who


@pytest.mark.parametrize("who", WHO)
def test_lists_hold_only_what_the_role_may_read(cast, reader, review, permits_team, who):
    ServiceFactory(name="Permits desk", slug="permits-desk", team=permits_team)
    response = reader(cast[who]).get("/api/v1/services")
    if who == "nobody":
        assert_error(response, 403, "portfolio")
        return
    slugs = {item["slug"] for item in response.json()["items"]}
    expected = {
        "lead": {"benefits-portal"},
        "other_lead": {"permits-desk"},
    }.get(who, {"benefits-portal", "permits-desk"})
    assert slugs == expected


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/services",
        "/api/v1/services/benefits-portal",
        "/api/v1/services/benefits-portal/readiness",
        "/api/v1/reviews/{review}",
        "/api/v1/portfolio",
        "/api/v1/portfolio/readiness",
        "/api/v1/checklists",
    ],
)
def test_anonymous_callers_get_a_401_that_says_how_to_sign_in(review, path):
    response = Client().get(path.format(review=review.pk))
    assert_error(response, 401, "personal API token")
    assert response["WWW-Authenticate"] == 'Bearer realm="preflight"'


def test_another_teams_service_and_review_are_404_like_ones_that_do_not_exist(
    cast, reader, permits_team
):
    theirs = ReviewFactory(
        service=ServiceFactory(name="Permits desk", slug="permits-desk", team=permits_team),
        by=cast["other_lead"],
    )
    client = reader(cast["lead"])
    for path in (
        "/api/v1/services/permits-desk",
        "/api/v1/services/permits-desk/readiness",
        f"/api/v1/reviews/{theirs.pk}",
    ):
        hidden = client.get(path)
        assert_error(hidden, 404)
        missing = client.get(
            path.replace("permits-desk", "no-such").replace(str(theirs.pk), str(theirs.pk + 1000))
        )
        assert_error(missing, 404)
        # The same sentence shape for both: nothing tells them apart.
        assert "that you may read" in hidden.json()["error"]
        assert "that you may read" in missing.json()["error"]


@pytest.mark.parametrize("path", ["/api/v1/reviews/99999999999999999999", "/api/v1/reviews/x"])
def test_an_id_out_of_range_or_not_a_number_is_simply_not_found(cast, client_for, path):
    assert_error(client_for(cast["manager"]).get(path), 404, "no API endpoint")


# --- what the reads hold ---------------------------------------------------------------------


def test_a_service_reads_with_its_settings_and_its_current_review(cast, reader, review):
    service = review.service
    Service.objects.filter(pk=service.pk).update(
        health_check_url="https://benefits.example.gov/healthz",
        project_tag="benefits",
        environments="staging, production",
    )
    token_create(service=service, name="GitHub Actions", by=cast["lead"])
    body = reader(cast["reviewer"]).get(f"/api/v1/services/{service.slug}").json()
    assert body["name"] == "Benefits portal" and body["team"] == {
        "slug": "benefits",
        "name": "Benefits Team",
    }
    assert body["health_check_url"] == "https://benefits.example.gov/healthz"
    assert body["project_tag"] == "benefits"
    assert body["environments"] == ["staging", "production"]
    assert body["current_review"]["id"] == review.pk
    assert body["current_review"]["state"] == "draft"
    assert body["current_review"]["item_count"] == 2
    assert [r["id"] for r in body["reviews"]] == [review.pk]
    text = json.dumps(body)
    assert "pft_" not in text and "token" not in text


def test_a_review_reads_with_its_answers_must_haves_first_and_their_check_results(
    cast, reader, lead, benefits_team
):
    version = checklist_import(
        parsed=parse_file(
            "ci.md",
            b"---\ntitle: CI\nslug: ci\nchecks:\n  load-tested: [ci.load_test]\n---\n"
            b"## Ops\n- Dashboards exist {#dashboards}\n- **Load tested** {#load-tested}\n",
        ).checklist,
        by=None,
        publish=True,
    ).version
    service = Service.objects.create(name="Benefits portal", slug="benefits", team=benefits_team)
    review = review_services.review_start(service=service, checklist_version=version, by=lead)
    AnswerFactory(review=review, item_text="Load tested", status=AnswerStatus.MET, owner=lead)
    plain = token_create(service=service, name="CI", by=lead)[1]
    pushed = Client().post(
        "/api/v1/evidence",
        data=json.dumps(
            {
                "check": "ci.load_test",
                "result": "fail",
                "summary": "p95 2.4 s",
                "observed": {"p95": 2.4},
            }
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {plain}",
    )
    assert pushed.status_code == 201

    body = reader(cast["auditor"]).get(f"/api/v1/reviews/{review.pk}").json()
    assert body["service"]["slug"] == "benefits"
    assert body["checklist"] == {"slug": "ci", "title": "CI", "number": 1}
    first, second = body["answers"]
    assert first["item"] == {
        "ref": "load-tested",
        "text": "Load tested",
        "must_have": True,
        "section": "Ops",
    }
    assert first["status"] == "met" and first["owner"]["email"] == "lead@example.com"
    assert first["contradicted"] is True  # met, while its check fails
    (check,) = first["checks"]
    assert check["binding"] == "ci.load_test" and check["result"] == "fail" and check["fails"]
    assert check["standing"]["explanation"] == "p95 2.4 s"
    assert check["standing"]["observed"] == {"p95": 2.4}
    assert second["item"]["ref"] == "dashboards" and second["checks"] == []
    assert second["status"] == "not_started" and second["owner"] is None


def test_the_portfolio_reads_the_pages_rows_with_its_filters(cast, reader, review, permits_team):
    ServiceFactory(name="Permits desk", slug="permits-desk", team=permits_team)
    client = reader(cast["manager"])
    body = client.get("/api/v1/portfolio").json()
    assert body["count"] == 2 and body["page"] == 1 and body["pages"] == 1
    rows = {row["service"]["slug"]: row for row in body["items"]}
    benefits = rows["benefits-portal"]
    assert benefits["review_id"] == review.pk and benefits["state"] == "draft"
    assert benefits["statuses"] == ["not_started"]
    assert rows["permits-desk"]["state"] is None
    assert rows["permits-desk"]["statuses"] == ["not_started"]
    only = client.get("/api/v1/portfolio?team=permits&sort=-name").json()
    assert [row["service"]["slug"] for row in only["items"]] == ["permits-desk"]
    assert client.get("/api/v1/portfolio?state=none").json()["count"] == 1


def test_a_product_lead_reads_their_teams_portfolio_unless_they_ask_for_all(
    cast, reader, review, permits_team
):
    ServiceFactory(name="Permits desk", slug="permits-desk", team=permits_team)
    client = reader(cast["lead"])
    mine = client.get("/api/v1/portfolio").json()
    assert [row["service"]["slug"] for row in mine["items"]] == ["benefits-portal"]
    # "all" is what they may read: still not another team's services.
    everything = client.get("/api/v1/portfolio?scope=all").json()
    assert [row["service"]["slug"] for row in everything["items"]] == ["benefits-portal"]


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("team=nope", ["team"]),
        ("sort=bogus&state=launched", ["sort", "state"]),
        ("hosting=mainframe", ["hosting"]),
        ("q=a%00b", ["q"]),
    ],
)
def test_an_invalid_portfolio_filter_is_a_422_naming_it(cast, reader, review, query, fields):
    for path in ("/api/v1/portfolio", "/api/v1/portfolio/readiness"):
        assert_error(reader(cast["manager"]).get(f"{path}?{query}"), 422, *fields)


@pytest.mark.parametrize(
    ("query", "words"),
    [("page=0", ["page", "greater than or equal to 1"]), ("page=two", ["page", "integer"])],
)
def test_an_invalid_page_is_a_422_naming_it(cast, reader, review, query, words):
    for path in ("/api/v1/services", "/api/v1/portfolio", "/api/v1/checklists"):
        assert_error(reader(cast["manager"]).get(f"{path}?{query}"), 422, *words)


def test_readiness_history_reads_the_snapshots(cast, reader, review):
    from reviews.portfolio.snapshots import snapshots_take

    snapshots_take()
    client = reader(cast["manager"])
    service = client.get("/api/v1/services/benefits-portal/readiness?days=30").json()
    assert service["days"] == 30
    assert [p["readiness"] for p in service["points"]] == [0.0]
    assert service["points"][0]["services"] == 1
    portfolio = client.get("/api/v1/portfolio/readiness").json()
    assert portfolio["days"] == 90 and len(portfolio["points"]) == 1
    assert_error(client.get("/api/v1/portfolio/readiness?days=0"), 422, "days")
    assert_error(client.get("/api/v1/services/benefits-portal/readiness?days=9999"), 422, "days")


def test_a_checklist_version_reads_with_its_sections_and_items(cast, reader, review):
    version = review.checklist_version
    client = reader(cast["nobody"])  # everyone signed in reads the library
    listed = client.get("/api/v1/checklists").json()
    assert listed["count"] == 1
    (checklist,) = listed["items"]
    assert checklist["slug"] == version.checklist.slug
    assert [v["number"] for v in checklist["versions"]] == [1]
    body = client.get(f"/api/v1/checklists/{version.checklist.slug}/versions/1").json()
    assert body["status"] == "published" and body["item_count"] == 2
    (section,) = body["sections"]
    assert section["title"] == "Ops"
    assert [(i["text"], i["must_have"]) for i in section["items"]] == [
        ("Backups run", True),
        ("Dashboards exist", False),
    ]
    assert_error(client.get(f"/api/v1/checklists/{version.checklist.slug}/versions/9"), 404)


# --- pagination ------------------------------------------------------------------------------


def test_every_list_pages_the_same_way(cast, reader, benefits_team):
    for n in range(PAGE_SIZE + 3):
        ServiceFactory(name=f"Service {n:03}", slug=f"service-{n:03}", team=benefits_team)
    client = reader(cast["manager"])
    for path in ("/api/v1/services", "/api/v1/portfolio"):
        first = client.get(path).json()
        assert (first["count"], first["page"], first["pages"]) == (PAGE_SIZE + 3, 1, 2)
        assert len(first["items"]) == PAGE_SIZE
        second = client.get(f"{path}?page=2").json()
        assert (second["page"], len(second["items"])) == (2, 3)
        assert second["items"][-1]["url"] == "/services/service-052/"
        assert_error(client.get(f"{path}?page=3"), 404, "no page 3", "has 2")
    empty = client.get("/api/v1/checklists").json()
    assert empty == {"items": [], "count": 0, "page": 1, "pages": 1}


# --- query budgets ---------------------------------------------------------------------------


def _services(team, lead, count):
    """``count`` services, each with a review of a checklist of its own."""
    for n in range(count):
        service = ServiceFactory(name=f"Service {n:03}", slug=f"service-{n:03}", team=team)
        review_services.review_start(
            service=service, checklist_version=ChecklistVersionFactory(), by=lead
        )


@pytest.mark.parametrize("count", [1, 20])
def test_the_lists_cost_the_same_queries_at_20_services_as_at_1(
    cast, client_for, benefits_team, django_assert_num_queries, count
):
    lead = cast["lead"]
    _services(benefits_team, lead, count)
    client = client_for(lead)
    client.get("/api/v1/checklists")  # settle the session
    # 1 session, 2 user, 3 roles, 4 team ids, 5 count, 6 the page (with team and current
    # review, its checklist version and checklist).
    with django_assert_num_queries(6):
        response = client.get("/api/v1/services")
    assert response.json()["count"] == count
    # 1 session, 2 user, 3 roles, 4 teams and 5 checklists for the filters, 6 team ids,
    # 7 count, 8 the page (with what the row shows and the expiring exceptions).
    with django_assert_num_queries(8):
        response = client.get("/api/v1/portfolio")
    assert response.json()["count"] == count
    # 1 session, 2 user, 3 roles, 4 count, 5 the checklists, 6 their versions.
    with django_assert_num_queries(6):
        response = client.get("/api/v1/checklists")
    assert response.json()["count"] == count


@pytest.mark.parametrize("count", [1, 20])
def test_a_personal_token_reads_lists_at_the_same_cost(
    cast, token_client, benefits_team, django_assert_num_queries, count
):
    lead = cast["lead"]
    _services(benefits_team, lead, count)
    client = token_client(lead)
    client.get(
        "/api/v1/checklists"
    )  # its first use notes the time; later ones within a minute do not
    # 1 the token and its user, 2 roles, 3 team ids, 4 count, 5 the page.
    with django_assert_num_queries(5):
        response = client.get("/api/v1/services")
    assert response.json()["count"] == count


@pytest.mark.parametrize("items", [2, 40])
def test_a_review_reads_at_the_same_cost_whatever_its_size(
    cast, client_for, service, lead, django_assert_num_queries, items
):
    markdown = "## Ops\n" + "".join(f"- **Item {n}**\n" for n in range(items))
    version = ChecklistVersionFactory(markdown=f"# Big {items}\n{markdown}".encode())
    review = review_services.review_start(service=service, checklist_version=version, by=lead)
    client = client_for(cast["reviewer"])
    client.get("/api/v1/checklists")
    # 1 session, 2 user, 3 roles, 4 the security policy (the MFA rule, for reviewers),
    # 5 the review (service, team, checklist), 6 standings, 7 answers (items, sections,
    # owners).
    with django_assert_num_queries(7):
        response = client.get(f"/api/v1/reviews/{review.pk}")
    assert len(response.json()["answers"]) == items


# --- one error shape -------------------------------------------------------------------------


def test_every_refusal_has_the_one_error_shape(cast, client_for, review):
    assert_error(Client().get("/api/v1/services"), 401)
    assert_error(client_for(cast["nobody"]).get("/api/v1/portfolio"), 403, "portfolio is for")
    assert_error(client_for(cast["other_lead"]).get("/api/v1/services/benefits-portal"), 404)
    assert_error(client_for(cast["manager"]).get("/api/v1/portfolio?team=x"), 422, "team")
    assert_error(client_for(cast["manager"]).get("/api/v1/services/a/b/c"), 404, "no API endpoint")
    for method in ("post", "put", "patch", "delete"):
        response = getattr(client_for(cast["manager"]), method)("/api/v1/services")
        assert_error(response, 405, "use GET")
        assert response["Allow"] == "GET"


def test_a_crash_in_a_read_answers_the_json_500(cast, client_for, review, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("reviews.api.readable_service", crash)
    client = client_for(cast["manager"])
    client.raise_request_exception = False
    response = client.get("/api/v1/services/benefits-portal")
    assert response.status_code == 500
    assert response.json() == {"error": "Something went wrong on our side; try again later."}


def test_reads_are_never_cached(cast, reader, review):
    response = reader(cast["manager"]).get("/api/v1/services")
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]


# --- the OpenAPI document and the docs page --------------------------------------------------


def _api_routes() -> set[tuple[str, str]]:
    """(method, path) of every operation the API serves, read from its routers."""
    found: set[tuple[str, str]] = set()
    for mount in api._get_bound_routers():
        for path, view in mount.path_operations.items():
            for operation in view.operations:
                full = "/api/v1" + re.sub(r"\{\w+:(\w+)\}", r"{\1}", path)
                found.update((method.lower(), full) for method in operation.methods)
    return found


def test_the_openapi_document_validates_and_lists_every_route():
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    validate(document)
    listed = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert listed == _api_routes()
    assert ("post", "/api/v1/evidence") in listed and ("get", "/api/v1/portfolio") in listed
    assert len(listed) == 9
    push = document["paths"]["/api/v1/evidence"]["post"]
    assert push["security"] == [{"ServiceTokenAuth": []}]
    body = push["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) >= {"check", "result", "summary", "observed", "link"}
    reads = document["paths"]["/api/v1/services"]["get"]
    assert reads["security"] == [{"PersonalTokenAuth": []}, {"SessionAuth": []}]
    portfolio = {p["name"] for p in document["paths"]["/api/v1/portfolio"]["get"]["parameters"]}
    assert portfolio >= {"page", "q", "team", "hosting", "impact", "state", "status", "sort"}


def test_the_docs_page_lists_every_operation_without_a_script_of_its_own():
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    page = response.content.decode()
    for method, path in _api_routes():
        assert f"{method.upper()} {path}" in page
    # Only the site's own scripts, loaded from files: the CSP allows nothing else.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "cdn" not in page.lower()
