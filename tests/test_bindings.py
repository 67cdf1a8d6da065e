"""A binding is its key and parameters, wherever results are looked up: the review page,
readiness and the sweep agree for every parameterised binding in the built-in checklists."""

from __future__ import annotations

import re
from html import escape

import pytest
from django.core.management import call_command
from django.urls import reverse

from checklists.models import Item, VersionStatus
from reviews import services
from reviews.checks import selectors as check_selectors
from reviews.checks import services as check_services
from reviews.checks.collectors.base import Binding, Outcome, Target, bindings_of, check_title
from reviews.checks.collectors.runner import Job
from reviews.models import AnswerStatus, CheckRun, CheckRunTrigger, Review, Service

pytestmark = pytest.mark.django_db


def parameterised_items() -> list[Item]:
    return [
        item
        for item in Item.objects.filter(version__status=VersionStatus.PUBLISHED).select_related(
            "version__checklist"
        )
        if any(entry.get("params") for entry in item.checks)
    ]


def test_a_binding_with_parameters_has_its_own_id_and_a_pushed_one_never_does():
    plain = Binding.of({"key": "aws.autoscaling.three_azs"})
    tuned = Binding.of({"key": "aws.autoscaling.three_azs", "params": {"min_zones": 2}})
    assert plain.id == "aws.autoscaling.three_azs"
    assert tuned.id.startswith("aws.autoscaling.three_azs:") and tuned.id != plain.id
    assert Binding.of({"key": "ci.load_test", "params": {"x": 1}}).id == "ci.load_test"
    # The same binding twice in an item counts once; parameter order does not matter.
    assert bindings_of(
        [
            {"key": "http.health", "params": {"max_ms": 5}},
            {"key": "http.health", "params": {"max_ms": 5}},
        ]
    ) == [Binding.of({"key": "http.health", "params": {"max_ms": 5}})]


def test_every_parameterised_builtin_binding_shows_its_result_beside_the_answer(
    lead, benefits_team, client_for
):
    """The bug: the page looked results up by bare key, so a binding with parameters read
    "not run yet" (and no contradiction) while readiness counted it as failing."""
    call_command("load_builtin_checklists", verbosity=0)
    items = parameterised_items()
    assert items, "the built-in checklists bind checks with parameters"
    client = client_for(lead)
    versions = {item.version for item in items}
    for n, version in enumerate(sorted(versions, key=lambda v: v.pk)):
        service = Service.objects.create(
            name=f"Service {n}", slug=f"service-{n}", team=benefits_team
        )
        review = services.review_start(service=service, checklist_version=version, by=lead)
        mine = [item for item in items if item.version_id == version.pk]
        # Every binding of these items fails, stored the way a sweep stores it.
        jobs = [
            Job(binding.key, Target(service_id=service.pk), binding.params)
            for item in mine
            for binding in bindings_of(item.checks)
            if not binding.pushed
        ]
        run = CheckRun.objects.create(trigger=CheckRunTrigger.MANUAL, service=service)
        outcomes = [Outcome.failed(f"{job.key} fails here.") for job in jobs]
        check_services.outcomes_store(run, jobs, outcomes)
        for item in mine:
            answer = review.answers.get(item=item)
            services.answer_update(
                answer=answer,
                change=services.AnswerChange(AnswerStatus.MET, "", "", None),
                based_on_revision=answer.revision,
                by=lead,
            )
        services.readiness_refresh(service_ids=[service.pk])
        page = client.get(review.get_absolute_url()).content.decode()
        for item in mine:
            answer = review.answers.get(item=item)
            # The overview's row says so; the item's editor shows each result.
            row = re.search(rf'<li[^>]*id="answer-{answer.pk}".*?</li>', page, re.DOTALL).group(0)
            assert "Contradiction" in row, item.ref
            assert "fail" in row and "not run" not in row, item.ref
            row = client.get(reverse("reviews:item", args=[review.pk, answer.pk])).content.decode()
            assert "not run yet" not in row, item.ref
            assert "Contradiction" in row, item.ref
            for binding in bindings_of(item.checks):
                if not binding.pushed:
                    assert escape(check_title(binding.key)) in row, (item.ref, binding.key)
                    assert f"{binding.key} fails here." in row, (item.ref, binding.key)
        # Readiness looks results up the same way: every failing must-have is counted.
        expected = sum(1 for item in mine if item.must_have)
        assert Review.objects.get(pk=review.pk).failing_must_haves >= expected


def test_the_items_checks_come_back_in_the_order_bound_with_their_standings(lead, benefits_team):
    call_command("load_builtin_checklists", verbosity=0)
    item = parameterised_items()[0]
    service = Service.objects.create(name="S", slug="s", team=benefits_team)
    services.review_start(service=service, checklist_version=item.version, by=lead)
    found = check_selectors.item_checks(item.checks, check_selectors.standings(service))
    assert [check.binding for check in found] == bindings_of(item.checks)
    assert all(check.standing is None and not check.fails for check in found)
