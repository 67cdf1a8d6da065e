"""The checklist library in the API: everyone signed in reads it, as on the pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Prefetch
from django.http import Http404, HttpRequest
from ninja import Router, Schema

from checklists import selectors
from checklists.models import Checklist, ChecklistVersion
from portal.api.auth import READ_AUTH, caller
from portal.api.errors import error_responses
from portal.api.pagination import Page, page_number, paginate
from portal.permissions import require

router = Router(tags=["checklists"], auth=READ_AUTH)


class VersionBrief(Schema):
    number: int
    status: str  # draft or published
    url: str
    item_count: int
    must_have_count: int
    required_signoff_roles: list[str]
    published_at: datetime | None


class ChecklistOut(Schema):
    """A checklist and its versions, newest first."""

    slug: str
    title: str
    description: str
    source: str
    url: str
    is_builtin: bool
    versions: list[VersionBrief]


class ChecklistItem(Schema):
    ref: str  # stays the same across versions
    text: str
    guidance: str  # Markdown
    must_have: bool
    checks: list[dict[str, Any]]  # automated checks: [{"key": "http.health", "params": {}}]


class SectionOut(Schema):
    title: str
    items: list[ChecklistItem]


class VersionOut(VersionBrief):
    """One version's content: its sections and their items, in order."""

    checklist: str  # the checklist's slug
    title: str
    change_note: str
    sections: list[SectionOut]


def _version_fields(version: ChecklistVersion) -> dict[str, Any]:
    return {
        "number": version.number,
        "status": version.status,
        "url": version.get_absolute_url(),
        "item_count": version.item_count,
        "must_have_count": version.must_have_count,
        "required_signoff_roles": list(version.required_signoff_roles),
        "published_at": version.published_at,
    }


def _checklist(checklist: Checklist) -> ChecklistOut:
    return ChecklistOut(
        slug=checklist.slug,
        title=checklist.title,
        description=checklist.description,
        source=checklist.source,
        url=checklist.get_absolute_url(),
        is_builtin=checklist.is_builtin,
        versions=[VersionBrief(**_version_fields(v)) for v in checklist.versions.all()],
    )


@router.get(
    "/checklists",
    response={200: Page[ChecklistOut], **error_responses(401, 403, 404, 422)},
    summary="The checklist library",
)
def checklists_list(request: HttpRequest, page: int = page_number()) -> Page[ChecklistOut]:
    """Every checklist, by title, with its versions (drafts included, as on the pages)."""
    require(caller(request), "checklists.view_library")
    versions = ChecklistVersion.objects.order_by("-number")
    rows = Checklist.objects.prefetch_related(Prefetch("versions", queryset=versions)).order_by(
        "title", "pk"
    )
    return paginate(rows, page, _checklist)


@router.get(
    "/checklists/{slug:slug}/versions/{id:number}",
    response={200: VersionOut, **error_responses(401, 403, 404)},
    summary="One checklist version with its sections and items",
)
def version_detail(request: HttpRequest, slug: str, number: int) -> VersionOut:
    require(caller(request), "checklists.view_library")
    try:
        version = selectors.version_with_content(slug, number)
    except ChecklistVersion.DoesNotExist:
        raise Http404("No such checklist version.") from None
    return VersionOut(
        **_version_fields(version),
        checklist=version.checklist.slug,
        title=version.checklist.title,
        change_note=version.change_note,
        sections=[
            SectionOut(
                title=section.title,
                items=[
                    ChecklistItem(
                        ref=item.ref,
                        text=item.text,
                        guidance=item.guidance,
                        must_have=item.must_have,
                        checks=list(item.checks),
                    )
                    for item in section.items.all()
                ],
            )
            for section in version.sections.all()
        ],
    )
