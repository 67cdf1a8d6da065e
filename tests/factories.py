from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from checklists.models import ChecklistVersion
from checklists.parsers import parse_file
from checklists.services import checklist_import
from portal.accounts.models import Team, User
from reviews.models import Answer, AnswerStatus, Review, ReviewKind, Service
from reviews.services import AnswerChange, answer_update, review_start


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"Person {n}")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class TeamFactory(DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


# --- the review record -----------------------------------------------------------------------
# Checklist versions, reviews and answers are made through the real services, so they are
# what the portal itself would have made: a version has its sections, items, reference ids
# and content hash; a review has one answer per item and a stored summary.

# One section, a must-have and a plain item: the smallest checklist that shows both rules.
# ``{n}`` keeps each factory-made checklist apart (the same content imported twice is one
# version, not two).
CHECKLIST_MARKDOWN = """# Checklist {n}

## Ops
- **Backups run**
- Dashboards exist
"""


class ServiceFactory(DjangoModelFactory):
    """A service of a team, saved as given (the form and ``service_create`` validate; their
    own tests cover that)."""

    class Meta:
        model = Service

    name = factory.Sequence(lambda n: f"Service {n}")
    slug = factory.Sequence(lambda n: f"service-{n}")
    team = factory.SubFactory(TeamFactory)


class ChecklistVersionFactory(DjangoModelFactory):
    """A checklist version imported from Markdown by ``checklists.services.checklist_import``:
    published unless ``publish=False`` (then a draft). Create only: the import saves it."""

    class Meta:
        model = ChecklistVersion

    markdown = factory.Sequence(lambda n: CHECKLIST_MARKDOWN.format(n=n).encode())
    filename = "checklist.md"
    publish = True

    @classmethod
    def _create(cls, model_class, *, markdown, filename, publish):
        parsed = parse_file(filename, markdown).checklist
        return checklist_import(parsed=parsed, by=None, publish=publish).version

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        raise TypeError("A checklist version is made by importing it: use create().")


class ReviewFactory(DjangoModelFactory):
    """A review started by ``reviews.services.review_start`` as ``by``: one answer per item
    of ``checklist_version`` (by default a new two-item checklist, see CHECKLIST_MARKDOWN)."""

    class Meta:
        model = Review

    service = factory.SubFactory(ServiceFactory)
    checklist_version = factory.SubFactory(ChecklistVersionFactory)
    by = factory.SubFactory(UserFactory)
    kind = ReviewKind.LAUNCH
    target_date = None

    @classmethod
    def _create(cls, model_class, *, service, checklist_version, by, **options):
        return review_start(service=service, checklist_version=checklist_version, by=by, **options)

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        raise TypeError("A review is made by starting it: use create().")


class AnswerFactory(DjangoModelFactory):
    """One answer of a started review (answers exist only through review_start), moved to
    ``status`` by ``reviews.services.answer_update`` as ``by``.

    ``item_text`` names the item; by default it is the review's first must-have. Statuses
    that need a reason get one unless ``justification`` is given.
    """

    class Meta:
        model = Answer

    review = factory.SubFactory(ReviewFactory)
    item_text = None
    status = AnswerStatus.MET
    justification = factory.LazyAttribute(
        lambda o: "" if o.status in (AnswerStatus.MET, AnswerStatus.NOT_STARTED) else "Not yet."
    )
    notes = ""
    owner = None
    by = factory.LazyAttribute(lambda o: o.review.created_by)

    @classmethod
    def _create(cls, model_class, *, review, item_text, status, justification, notes, owner, by):
        answers = review.answers.select_related("item")
        if item_text is None:
            answer = answers.filter(item__must_have=True).order_by(
                "item__section__order", "item__order", "item__id"
            )[0]
        else:
            answer = answers.get(item__text=item_text)
        return answer_update(
            answer=answer,
            change=AnswerChange(status, justification, notes, owner),
            based_on_revision=answer.revision,
            by=by,
        )

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        raise TypeError("An answer belongs to a started review: use create().")


def review_of_checked_service(
    *, checklist: bytes, team: Team, by: User, health_check_url: str, name: str = "Benefits portal"
) -> Review:
    """A review, started by ``by``, of a new service of ``team`` whose health check is
    ``health_check_url``, against ``checklist`` (Markdown with checks bound), published."""
    version = checklist_import(
        parsed=parse_file("checked.md", checklist).checklist, by=None, publish=True
    ).version
    service = Service.objects.create(
        name=name,
        slug=name.lower().replace(" ", "-"),
        team=team,
        health_check_url=health_check_url,
    )
    return review_start(service=service, checklist_version=version, by=by)
