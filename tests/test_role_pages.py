"""Every role page: who lands where, who is let in, and who is turned away."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

# url name -> the cast members allowed in; everyone else signed in gets 403.
ROLE_PAGES = {
    "reviews:queue": {"reviewer"},
    # The way in for every reader; product leads see their teams' services in it.
    "reviews:portfolio": {"lead", "other_lead", "reviewer", "manager", "auditor", "admin"},
    "audit:activity": {"auditor"},
    "accounts:administration": {"admin"},
    "checklists:library": {
        "lead",
        "other_lead",
        "reviewer",
        "manager",
        "auditor",
        "admin",
        "nobody",
    },
    "accounts:profile": {"lead", "other_lead", "reviewer", "manager", "auditor", "admin", "nobody"},
}
CAST = ["lead", "other_lead", "reviewer", "manager", "auditor", "admin", "nobody"]


@pytest.mark.parametrize("url_name", sorted(ROLE_PAGES))
def test_anonymous_visitors_are_sent_to_sign_in(url_name):
    response = Client().get(reverse(url_name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login") + "?next=")


@pytest.mark.parametrize("url_name", sorted(ROLE_PAGES))
@pytest.mark.parametrize("who", CAST)
def test_each_page_admits_only_its_roles(cast, client_for, url_name, who):
    response = client_for(cast[who]).get(reverse(url_name))
    expected = 200 if who in ROLE_PAGES[url_name] else 403
    assert response.status_code == expected, f"{who} on {url_name}"
    if expected == 403:
        assert b"You do not have access to this page" in response.content


@pytest.mark.parametrize(
    ("who", "landing"),
    [
        ("lead", "reviews:portfolio"),
        ("reviewer", "reviews:queue"),
        ("manager", "reviews:portfolio"),
        ("auditor", "audit:activity"),
        ("admin", "accounts:administration"),
    ],
)
def test_each_role_lands_on_its_own_page(cast, client_for, who, landing):
    response = client_for(cast[who]).get(reverse("accounts:home"))
    assert response.status_code == 302
    assert response["Location"] == reverse(landing)


def test_someone_without_a_role_is_told_to_ask_for_one(cast, client_for):
    response = client_for(cast["nobody"]).get(reverse("accounts:home"))
    assert response.status_code == 200
    assert b"you do not hold a role yet" in response.content


def test_home_sends_anonymous_visitors_to_sign_in():
    response = Client().get(reverse("accounts:home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("account_login")


def test_navigation_shows_only_what_the_role_has(cast, client_for):
    html = client_for(cast["reviewer"]).get(reverse("reviews:queue")).content.decode()
    assert "Review queue" in html
    assert "Checklists" in html
    assert "Portfolio" in html
    for hidden in ("My services", "Administration", ">Activity<"):
        assert hidden not in html
    assert "security@example.com" in html
    assert "(Security reviewer)" in html


def test_a_person_with_several_roles_sees_all_their_pages(lead, client_for):
    from portal.accounts import services
    from portal.accounts.roles import Role

    services.user_set_roles(
        user=lead, roles={Role.PRODUCT_LEAD, Role.SECURITY_REVIEWER}, reason="test"
    )
    client = client_for(lead)
    html = client.get(reverse("reviews:portfolio")).content.decode()
    assert "Review queue" in html and "Portfolio" in html
    assert client.get(reverse("reviews:queue")).status_code == 200
    # The first role in landing order wins.
    assert client.get(reverse("accounts:home"))["Location"] == reverse("reviews:portfolio")


def test_the_old_my_services_address_leads_to_the_portfolio(cast, client_for):
    response = client_for(cast["lead"]).get(reverse("reviews:services"))
    assert response.status_code == 302 and response["Location"] == reverse("reviews:portfolio")


def test_an_inactive_user_holds_no_role(lead, client_for):
    lead.is_active = False
    lead.save()
    lead.forget_roles()
    assert lead.roles == frozenset()


def test_the_django_admin_sign_in_goes_through_allauth():
    response = Client().get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_non_staff_cannot_open_the_django_admin(cast, client_for):
    assert client_for(cast["lead"]).get("/admin/login/").status_code == 403
    assert client_for(cast["lead"]).get("/admin/").status_code == 302


def test_staff_can_open_the_django_admin(cast, client_for):
    cast["admin"].is_superuser = True
    cast["admin"].save()
    assert client_for(cast["admin"]).get("/admin/accounts/team/").status_code == 200


def test_error_pages_are_plain_and_helpful(cast, client_for):
    response = client_for(cast["lead"]).get("/no-such-page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content
