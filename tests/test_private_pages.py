"""Signed-in pages are never cached, refusals speak in words, and the Django admin does
not let admins do a team's work."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from reviews.models import Service

pytestmark = pytest.mark.django_db


@pytest.fixture
def service(benefits_team):
    return Service.objects.create(name="Benefits portal", slug="benefits", team=benefits_team)


PAGES = {
    "lead": ["/", "/portfolio/", "/services/benefits/", "/checklists/", "/checks/"],
    "reviewer": ["/queue/", "/checks/runs/", "/services/benefits/"],
    "manager": ["/portfolio/"],
    "auditor": ["/activity/"],
    "admin": ["/administration/", "/admin/"],
}


@pytest.mark.parametrize("who", list(PAGES))
def test_signed_in_pages_are_sent_with_no_store(cast, client_for, service, who):
    client = client_for(cast[who])
    for path in PAGES[who]:
        response = client.get(path, follow=True)
        assert response.status_code == 200, path
        assert "no-store" in response["Cache-Control"], path
        assert "private" in response["Cache-Control"], path


def test_pages_for_anonymous_visitors_keep_their_own_caching():
    response = Client().get("/robots.txt")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
    # The sign-in page was never cacheable, and still is not.
    assert "no-store" in Client().get("/accounts/login/")["Cache-Control"]


CODE = re.compile(rb"\b(reviews|audit|accounts|checklists)\.[a-z_]+\b")
REFUSED = {
    "lead": ["/queue/", "/activity/", "/administration/", "/checks/runs/"],
    "reviewer": ["/services/new/", "/checklists/import/"],
    "auditor": ["/queue/", "/services/benefits/edit/"],
    "admin": ["/services/new/", "/services/benefits/edit/", "/queue/"],
    "nobody": ["/portfolio/", "/checks/runs/", "/activity/"],
}


@pytest.mark.parametrize("who", list(REFUSED))
def test_refusals_say_who_may_in_words_never_a_permission_code(cast, client_for, service, who):
    client = client_for(cast[who])
    for path in REFUSED[who]:
        response = client.get(path)
        assert response.status_code == 403, path
        assert b"You do not have access to this page" in response.content
        assert not CODE.search(response.content), (path, CODE.search(response.content))


def test_the_django_admin_shows_services_to_admins_but_does_not_change_them(
    cast, client_for, service
):
    client = client_for(cast["admin"])
    change = reverse("admin:reviews_service_change", args=[service.pk])
    assert client.get(reverse("admin:reviews_service_changelist")).status_code == 200
    page = client.get(change)
    assert page.status_code == 200 and b"Benefits portal" in page.content
    assert b'name="_save"' not in page.content
    response = client.post(change, {"name": "Renamed by admin", "slug": "benefits"})
    assert response.status_code == 403
    assert Service.objects.get(pk=service.pk).name == "Benefits portal"
    assert client.get(reverse("admin:reviews_service_add")).status_code == 403
