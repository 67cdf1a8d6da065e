"""*My services*: for a product lead, the portfolio of their teams' services (the old
/services/ address sends them there), paginated and counted in SQL like everyone's."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.urls import reverse

from reviews.portfolio.seed import seed_lead, seed_portfolio

pytestmark = pytest.mark.django_db

PORTFOLIO = reverse("reviews:portfolio")
ROW = re.compile(r'<th scope="row" data-label="Service"><a href="[^"]+">([^<]+)</a>')

# 1 the session, 2 the user, 3 their roles, 4 their team ids (the cache key, and "mine"),
# 5 teams and 6 checklists for the filters' choices, 7 the rows counted, 8 the page of rows
# (with review, checklist and expiring exceptions), 9 the tiles (one aggregate).
LEAD_QUERIES = 9


def test_my_services_sends_a_lead_to_the_portfolio_of_their_teams(client_for):
    seed_portfolio(services=20, items=4, days=0)
    client = client_for(seed_lead(teams=1))
    response = client.get(reverse("reviews:services"))
    assert response.status_code == 302
    assert response["Location"] == PORTFOLIO
    # Seeded services go round ten teams: the first team has services 1, 11.
    assert ROW.findall(client.get(PORTFOLIO).content.decode()) == [
        "Seed service 00001",
        "Seed service 00011",
    ]


@pytest.mark.parametrize("services", [50, 1500])
def test_my_services_costs_the_same_queries_at_any_size(
    client_for, django_assert_num_queries, services
):
    seed_portfolio(services=services, items=4, days=0)
    client = client_for(seed_lead(teams=1))  # a lead of one team in ten
    client.get(reverse("checklists:library"))  # settle the session (the first request's work)
    cache.clear()  # render the page, not a cached copy
    with django_assert_num_queries(LEAD_QUERIES):
        response = client.get(PORTFOLIO)
    assert response.status_code == 200
    mine = services // 10
    assert len(ROW.findall(response.content.decode())) == min(mine, 50)
    assert f"{mine} services</h2>" in response.content.decode()
    if mine > 50:
        assert f"Page 1 of {-(-mine // 50)}" in response.content.decode()
