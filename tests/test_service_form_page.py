"""The service page (start a review first, unset integrations on one line) and the service
form (its groups, the team preselected, the address made from the name)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal.accounts import services as account_services
from reviews.forms import ServiceForm
from reviews.models import Service
from reviews.services import SERVICE_FIELDS
from tests.factories import ChecklistVersionFactory, ServiceFactory
from tests.services import IN_CI

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parent.parent
NEW = "/services/new/"

# Everything the form takes, the address (slug) left blank.
FORM = {
    "name": "Claims API",
    "slug": "",
    "description": "",
    "hosting": "aws",
    "impact_level": "moderate",
    "environments": "",
    "repository_url": "",
    "runbook_url": "",
    "dashboard_url": "",
    "status_page_url": "",
    "health_check_url": "",
    "public_url": "",
    "cloud_account_id": "",
    "cloud_region": "",
    "cloud_role_arn": "",
    "project_tag": "",
    "prometheus_url": "",
    "alertmanager_url": "",
    "pagerduty_service_id": "",
    "cloud_foundry_space": "",
}

EVERY_SETTING = {
    "repository_url": "https://github.com/example/benefits",
    "runbook_url": "https://runbooks.example.gov/benefits",
    "dashboard_url": "https://grafana.example.gov/d/benefits",
    "status_page_url": "https://status.example.gov",
    "health_check_url": "https://benefits.example.gov/healthz",
    "public_url": "https://benefits.example.gov",
    "cloud_account_id": "123456789012",
    "cloud_region": "us-gov-west-1",
    "cloud_role_arn": "arn:aws:iam::123456789012:role/preflight-reader",
    "project_tag": "benefits",
    "prometheus_url": "https://prometheus.example.gov",
    "alertmanager_url": "https://alertmanager.example.gov",
    "pagerduty_service_id": "PABC123",
    "cloud_foundry_space": "gsa-benefits/production",
}


def create(client: Client, **fields: str):
    return client.post(NEW, FORM | fields)


def not_set_up_line(html: str) -> list[str]:
    """The labels on the page's "Not set up:" line (empty when there is none)."""
    found = re.search(r'<p id="not-set-up"><strong>Not set up:</strong> ([^<]*)</p>', html)
    return found.group(1).split(", ") if found else []


# --- the service page ---------------------------------------------------------------------------


def test_the_reviews_and_start_a_review_come_first_before_everything_else(
    lead, client_for, service
):
    ChecklistVersionFactory()
    html = client_for(lead).get(service.get_absolute_url()).content.decode()
    reviews, start = html.index(">Reviews</h2>"), html.index(">Start a review</h2>")
    assert html.index("<h1") < reviews < start
    for later in (">Links and integrations</h2>", ">Automated checks</h2>", ">CI tokens</h2>"):
        assert start < html.index(later), later


def test_readers_get_no_start_form_near_the_top_or_anywhere(manager, client_for, service):
    html = client_for(manager).get(service.get_absolute_url()).content.decode()
    assert "Start a review" not in html
    assert reverse("reviews:review_start", args=[service.slug]) not in html


def test_unset_links_and_integrations_fold_into_one_line_by_their_labels(lead, client_for, service):
    service.health_check_url = "https://benefits.example.gov/healthz"
    service.runbook_url = "https://runbooks.example.gov/benefits"
    service.save()
    html = client_for(lead).get(service.get_absolute_url()).content.decode()

    assert not_set_up_line(html) == [
        "Repository URL",
        "Dashboard URL",
        "Status page URL",
        "Public URL",
        "AWS account ID",
        "AWS region",
        "Cloud role ARN",
        "Project tag",
        "Prometheus URL",
        "Alertmanager URL",
        "PagerDuty service ID",
        "Cloud Foundry space",
    ]
    # The set ones still show, each with its value; a link opens.
    assert "<dt>Health check URL</dt><dd>https://benefits.example.gov/healthz</dd>" in html
    assert (
        '<dt>Runbook URL</dt><dd><a href="https://runbooks.example.gov/benefits">'
        "https://runbooks.example.gov/benefits</a></dd>"
    ) in html
    # No field keys and no row of dashes.
    assert "health_check_url" not in html and "cloud_account_id" not in html
    assert "<dd>—</dd>" not in html


def test_a_fully_set_up_service_has_no_not_set_up_line(lead, client_for, service):
    for name, value in EVERY_SETTING.items():
        setattr(service, name, value)
    service.save()
    html = client_for(lead).get(service.get_absolute_url()).content.decode()
    assert "Not set up" not in html
    assert html.count("<dt>") >= len(EVERY_SETTING)
    assert "<dt>AWS account ID</dt><dd>123456789012</dd>" in html


def test_a_service_with_nothing_set_lists_every_link_and_integration_as_not_set_up(
    auditor, client_for, service
):
    html = client_for(auditor).get(service.get_absolute_url()).content.decode()
    expected = [str(ServiceForm.base_fields[n].label) for n in EVERY_SETTING]
    assert not_set_up_line(html) == expected
    assert '<dl class="preflight-facts">' not in html


def test_the_service_page_costs_the_same_with_every_setting_as_with_none(
    lead, client_for, benefits_team
):
    bare = ServiceFactory(team=benefits_team)
    full = ServiceFactory(team=benefits_team, **EVERY_SETTING)
    client = client_for(lead)
    client.get(bare.get_absolute_url())  # settle the session
    counts = []
    for service in (bare, full):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(service.get_absolute_url()).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_the_service_page_still_refuses_strangers(other_lead, client_for, service):
    assert client_for(other_lead).get(service.get_absolute_url()).status_code == 404
    response = Client().get(service.get_absolute_url())
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


# --- the form's groups --------------------------------------------------------------------------


class _Fieldsets(HTMLParser):
    """Each <fieldset>'s legend and the names of the fields inside it; fields outside
    every fieldset go to ``outside``."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: list[tuple[str, list[str]]] = []
        self.outside: list[str] = []
        self._open = 0
        self._legend: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        name = dict(attrs).get("name") or ""
        if tag == "fieldset":
            self._open += 1
            self.groups.append(("", []))
        elif tag == "legend":
            self._legend = []
        elif tag in ("input", "select", "textarea") and name != "csrfmiddlewaretoken":
            (self.groups[-1][1] if self._open else self.outside).append(name)

    def handle_endtag(self, tag: str) -> None:
        if tag == "fieldset":
            self._open -= 1
        elif tag == "legend" and self._legend is not None:
            self.groups[-1] = ("".join(self._legend).strip(), self.groups[-1][1])
            self._legend = None

    def handle_data(self, data: str) -> None:
        if self._legend is not None:
            self._legend.append(data)


def fieldsets_of(html: str) -> _Fieldsets:
    main = html[html.index("<main") : html.index("</main>")]
    parser = _Fieldsets()
    parser.feed(main)
    return parser


def test_every_field_of_the_form_is_in_exactly_one_group():
    grouped = [name for _, names in ServiceForm.FIELDSETS for name in names]
    assert sorted(grouped) == sorted(SERVICE_FIELDS)
    assert len(grouped) == len(set(grouped)) == 21


@pytest.mark.parametrize("page", ["new", "edit"])
def test_the_form_renders_every_field_inside_one_of_its_three_groups(
    lead, client_for, service, page
):
    url = NEW if page == "new" else reverse("reviews:service_edit", args=[service.slug])
    response = client_for(lead).get(url)
    assert response.status_code == 200
    found = fieldsets_of(response.content.decode())
    assert [legend for legend, _ in found.groups] == ["Basics", "Links", "Integrations"]
    rendered = [name for _, names in found.groups for name in names]
    form = response.context["form"]
    assert sorted(rendered) == sorted(form.fields)
    assert len(rendered) == len(set(rendered))
    assert found.outside == []
    assert dict(found.groups)["Basics"][:3] == ["name", "slug", "team"]
    assert "health_check_url" in dict(found.groups)["Integrations"]
    assert "runbook_url" in dict(found.groups)["Links"]


def test_a_refused_form_keeps_its_groups_and_shows_the_error_in_its_group(
    lead, client_for, benefits_team
):
    response = create(client_for(lead), team=str(benefits_team.pk), cloud_region="useast1")
    assert response.status_code == 400
    html = response.content.decode()
    integrations = html[html.index('id="fieldset-integrations"') :]
    assert "A region looks like us-east-1." in integrations
    assert [legend for legend, _ in fieldsets_of(html).groups] == [
        "Basics",
        "Links",
        "Integrations",
    ]


# --- the team preselected -----------------------------------------------------------------------


def test_a_lead_in_one_team_finds_it_chosen(lead, client_for, benefits_team):
    response = client_for(lead).get(NEW)
    assert response.context["form"]["team"].value() == benefits_team.pk
    html = response.content.decode()
    assert f'<option value="{benefits_team.pk}" selected>' in html
    assert '<option value="" selected>' not in html


def test_a_lead_in_two_teams_chooses_one(lead, client_for, benefits_team, permits_team):
    account_services.team_add_members(team=permits_team, users=[lead])
    response = client_for(lead).get(NEW)
    html = response.content.decode()
    assert response.context["form"]["team"].value() is None
    assert '<option value="" selected>' in html
    assert f'<option value="{benefits_team.pk}">' in html
    assert f'<option value="{permits_team.pk}">' in html


def test_the_preselected_team_is_only_a_suggestion_the_post_decides(lead, client_for, permits_team):
    # Not in the Permits team: choosing it is refused, whatever the form suggested.
    response = create(client_for(lead), team=str(permits_team.pk))
    assert response.status_code == 400
    assert not Service.objects.exists()


def test_the_new_service_form_is_still_for_product_leads_only(cast, client_for):
    assert Client().get(NEW).status_code == 302
    assert client_for(cast["nobody"]).get(NEW).status_code == 403
    assert client_for(cast["reviewer"]).post(NEW, FORM).status_code == 403
    assert not Service.objects.exists()


# --- the address made from the name -------------------------------------------------------------


def test_a_blank_address_is_made_from_the_name(lead, client_for, benefits_team):
    response = create(client_for(lead), team=str(benefits_team.pk), name="Claims API (v2)")
    service = Service.objects.get()
    assert service.slug == "claims-api-v2"
    assert response.status_code == 302
    assert response["Location"] == "/services/claims-api-v2/"


def test_a_name_already_taken_gets_the_next_free_address(lead, client_for, benefits_team):
    client = client_for(lead)
    ServiceFactory(slug="claims-api-3")  # a gap: -2 is free, -3 is taken
    for _ in range(3):
        assert create(client, team=str(benefits_team.pk)).status_code == 302
    assert sorted(Service.objects.values_list("slug", flat=True)) == [
        "claims-api",
        "claims-api-2",
        "claims-api-3",
        "claims-api-4",
    ]


def test_the_address_the_browser_filled_in_moves_on_when_taken_and_says_so(
    lead, client_for, benefits_team
):
    ServiceFactory(slug="claims-api")
    response = create(client_for(lead), team=str(benefits_team.pk), slug="claims-api")
    assert response.status_code == 302
    assert Service.objects.filter(name="Claims API").get().slug == "claims-api-2"
    told = [str(m) for m in get_messages(response.wsgi_request)]
    assert "“claims-api” was taken: its address is “claims-api-2”." in told


def test_an_address_chosen_by_hand_is_kept_or_refused_never_changed(
    lead, client_for, benefits_team
):
    client = client_for(lead)
    assert create(client, team=str(benefits_team.pk), slug="claims").status_code == 302
    assert Service.objects.get().slug == "claims"
    response = create(client, team=str(benefits_team.pk), name="Claims two", slug="claims")
    assert response.status_code == 400
    assert "Service with this Slug already exists." in response.content.decode()
    assert Service.objects.count() == 1


def test_a_reserved_address_is_skipped(lead, client_for, benefits_team):
    assert create(client_for(lead), team=str(benefits_team.pk), name="New").status_code == 302
    assert Service.objects.get().slug == "new-2"


def test_a_long_name_gives_an_address_that_fits(lead, client_for, benefits_team):
    name = "Benefits " + "very " * 37 + "long"  # 198 characters
    client = client_for(lead)
    for _ in range(2):
        assert create(client, team=str(benefits_team.pk), name=name).status_code == 302
    first, second = Service.objects.order_by("pk").values_list("slug", flat=True)
    assert len(first) <= 80 and len(second) <= 80
    assert first.startswith("benefits-very-very") and not first.endswith("-")
    assert second.endswith("-2") and second[:-2].rstrip("-") == first[: len(second) - 2]


def test_accents_and_underscores_become_plain_letters_and_dashes(lead, client_for, benefits_team):
    create(client_for(lead), team=str(benefits_team.pk), name="Café__Réservations  Écoles")
    assert Service.objects.get().slug == "cafe-reservations-ecoles"


@pytest.mark.parametrize("name", ["日本語のサービス", "!!! ???"])
def test_a_name_that_gives_no_address_asks_for_one(lead, client_for, benefits_team, name):
    response = create(client_for(lead), team=str(benefits_team.pk), name=name)
    assert response.status_code == 400
    assert "slug" in response.context["form"].errors
    assert "An address cannot be made from this name" in response.content.decode()
    assert not Service.objects.exists()
    # Given one, the same name is fine.
    response = create(client_for(lead), team=str(benefits_team.pk), name=name, slug="jp")
    assert response.status_code == 302


def test_a_missing_name_is_the_only_complaint_when_the_address_is_blank(
    lead, client_for, benefits_team
):
    response = create(client_for(lead), team=str(benefits_team.pk), name="")
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"name"}


def test_editing_never_makes_a_new_address(lead, client_for, service):
    url = reverse("reviews:service_edit", args=[service.slug])
    data = FORM | {"name": "Renamed entirely", "team": str(service.team_id), "slug": ""}
    assert client_for(lead).post(url, data).status_code == 302
    service.refresh_from_db()
    assert (service.name, service.slug) == ("Renamed entirely", "benefits-portal")


def test_the_form_loads_the_slug_script_only_where_it_has_work(lead, client_for, service):
    client = client_for(lead)
    new = client.get(NEW).content.decode()
    assert re.search(r'<script src="/static/js/service_form\.js" defer></script>', new)
    assert 'data-slug-from="id_name"' in new
    edit = client.get(reverse("reviews:service_edit", args=[service.slug])).content.decode()
    assert "service_form.js" not in edit
    assert client.get("/static/js/service_form.js").status_code == 200


# --- the script itself, run by Node against a stand-in for the page ----------------------------

# A stand-in for the two inputs and the document: enough DOM for the script. Each step
# sets a field's value and fires "input" on it, as typing does; the result is the slug
# after each step.
HARNESS = """
const fs = require("fs");
const vm = require("vm");
const [script, stepsJson, slugDisabled] = process.argv.slice(1);
function input(id, value) {
  return { id, value, disabled: false, listeners: [],
    getAttribute(n) { return n === "data-slug-from" ? "id_name" : null; },
    addEventListener(t, f) { if (t === "input") this.listeners.push(f); },
    type(v) { this.value = v; this.listeners.forEach((f) => f()); } };
}
const name = input("id_name", "");
const slug = input("id_slug", "");
slug.disabled = slugDisabled === "true";
const document = {
  querySelectorAll: () => [slug],
  getElementById: (id) => (id === "id_name" ? name : null),
};
vm.runInNewContext(fs.readFileSync(script, "utf8"), { document });
const out = [];
for (const [field, value] of JSON.parse(stepsJson)) {
  (field === "name" ? name : slug).type(value);
  out.push(slug.value);
}
console.log(JSON.stringify(out));
"""


def run_script(steps: list[tuple[str, str]], *, slug_disabled: bool = False) -> list[str]:
    node = shutil.which("node")
    if node is None:
        if IN_CI:
            pytest.fail("Node is needed (make install runs npm ci)", pytrace=False)
        pytest.skip("Node is not installed")
    result = subprocess.run(
        [
            node,
            "-e",
            HARNESS,
            str(BASE_DIR / "static" / "js" / "service_form.js"),
            json.dumps(steps),
            "true" if slug_disabled else "false",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return list(json.loads(result.stdout))


def test_the_script_fills_the_address_in_as_the_name_is_typed_until_it_is_edited():
    slugs = run_script(
        [
            ("name", "C"),
            ("name", "Claims API"),
            ("slug", "claims"),  # edited by hand: the name no longer drives it
            ("name", "Claims API v2"),
            ("slug", ""),  # emptied: it follows the name again
            ("name", "Claims API v3"),
        ]
    )
    assert slugs == ["c", "claims-api", "claims", "claims", "", "claims-api-v3"]


@pytest.mark.parametrize(
    "name",
    [
        "Claims API (v2)",
        "Café__Réservations  Écoles",
        "  -- dashes -- and_underscores --  ",
        "日本語のサービス",
        "Benefits " + "very " * 37 + "long",
        "Ünïcödé Straße 42",
    ],
)
def test_the_script_makes_the_same_address_as_the_server(name):
    (slug,) = run_script([("name", name)])
    assert slug == ServiceForm.slug_from_name(name)


def test_the_script_leaves_a_disabled_address_alone():
    assert run_script([("name", "Claims API")], slug_disabled=True) == [""]
