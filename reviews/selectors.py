"""Reads the review pages share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch, prefetch_related_objects

from reviews.models import (
    Answer,
    AnswerStatus,
    Comment,
    Evidence,
    Review,
    Service,
    Waiver,
)


def review_for_page(pk: int) -> Review:
    review: Review = Review.objects.select_related(
        "service__team", "checklist_version__checklist", "created_by"
    ).get(pk=pk)
    return review


@dataclass
class SectionAnswers:
    title: str
    answers: list[Answer] = field(default_factory=list)


def answers_by_section(review: Review, show: str) -> list[SectionAnswers]:
    """The review's answers grouped by section, must-haves first (one query)."""
    answers = review.answers.select_related("item__section", "owner").order_by(
        "item__section__order", "-item__must_have", "item__order"
    )
    if show == "open-must-haves":
        answers = answers.filter(item__must_have=True).exclude(
            status__in=[AnswerStatus.MET, AnswerStatus.NOT_APPLICABLE]
        )
    elif show == "not-started":
        answers = answers.filter(status=AnswerStatus.NOT_STARTED)
    sections: list[SectionAnswers] = []
    for answer in answers:
        title = answer.item.section.title
        if not sections or sections[-1].title != title:
            sections.append(SectionAnswers(title=title))
        sections[-1].answers.append(answer)
    return sections


def owner_choices(service: Service) -> dict[str, Any]:
    """The people an answer can be assigned to: the owning team (one query)."""
    return {str(user.pk): user for user in service.team.members.order_by("first_name", "email")}


def answer_for_editor(review: Review, answer_pk: int) -> Answer:
    """One answer of ``review`` with everything its editor shows: its item, owner,
    evidence, comments and exceptions (four queries). Raises Answer.DoesNotExist."""
    answer: Answer = Answer.objects.select_related("item__section", "owner", "updated_by").get(
        pk=answer_pk, review=review
    )
    answer.review = review
    prefetch_related_objects(
        [answer],
        Prefetch(
            "evidence",
            queryset=Evidence.objects.select_related("created_by", "withdrawn_by").order_by(
                "created_at", "id"
            ),
        ),
        Prefetch("comments", queryset=Comment.objects.select_related("author")),
        Prefetch("waivers", queryset=Waiver.objects.select_related("requested_by", "decided_by")),
    )
    return answer
