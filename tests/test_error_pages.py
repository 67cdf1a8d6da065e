"""Error pages are plain, accessible and never leak details; forms refuse forged posts."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from django.views import defaults

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("view", "status", "title"),
    [
        (defaults.bad_request, 400, "Bad request"),
        (defaults.permission_denied, 403, "You do not have access to this page"),
        (defaults.page_not_found, 404, "Page not found"),
    ],
)
def test_client_error_pages_render_with_the_site_layout(view, status, title):
    request = RequestFactory().get("/somewhere")
    response = view(request, exception=Exception("detail"))
    html = response.content.decode()
    assert response.status_code == status
    assert f"<h1>{title}</h1>" in html
    assert 'class="usa-skipnav"' in html
    assert '<html lang="en">' in html


def test_the_server_error_page_renders_without_any_context():
    response = defaults.server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert b"Something went wrong on our side" in response.content
    assert b"Traceback" not in response.content


def test_a_post_without_a_csrf_token_is_refused_with_an_explanation(lead):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"login": lead.email, "password": "x"})
    assert response.status_code == 403
    assert b"Your form has expired" in response.content
    assert "_auth_user_id" not in client.session


def test_a_disallowed_host_gets_a_400_not_a_500():
    response = Client().get("/accounts/login/", HTTP_HOST="evil.example")
    assert response.status_code == 400
