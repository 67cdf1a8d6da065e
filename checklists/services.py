"""Writes to the checklist library: import, new drafts, publishing."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Max
from django.utils import timezone

from checklists.models import (
    Checklist,
    ChecklistVersion,
    Item,
    PublishedVersionError,
    Section,
    VersionStatus,
)
from checklists.schema import ParsedChecklist, content_hash, slug_for
from checklists.selectors import VersionDiff, version_diff
from portal.accounts.models import User
from portal.audit import ledger
from portal.audit.history import acting, attributed

# Two texts this alike (0..1) are taken for the same item, edited.
SAME_ITEM_SIMILARITY = 0.75


class ChecklistError(ValueError):
    """A checklist operation that cannot be done; the message says why."""


@dataclass
class ImportResult:
    checklist: Checklist
    version: ChecklistVersion
    outcome: str  # "created", "new_version" or "no_change"
    diff: VersionDiff | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.outcome != "no_change"


def checklist_import(
    *,
    parsed: ParsedChecklist,
    by: User | None,
    warnings: list[str] | None = None,
    publish: bool = False,
    builtin: bool = False,
) -> ImportResult:
    """Store parsed content as a checklist version, unless it is what the latest holds.

    Unchanged content creates nothing ("no_change"). Changed content becomes a new draft
    version whose items keep the reference ids of the items they match in the latest
    version, so the diff (returned) is keyed by ref.
    """
    slug = parsed.slug or slug_for(parsed.title, limit=80)
    _validate(
        Checklist(
            slug=slug,
            title=parsed.title,
            description=parsed.description,
            source=parsed.source,
            attribution=parsed.attribution,
        )
    )
    with transaction.atomic():
        # get_or_create saves a new checklist itself: acting() gives its row who and why.
        with acting(by=by, reason="Imported"):
            checklist, created = Checklist.objects.select_for_update().get_or_create(
                slug=slug,
                defaults={
                    "title": parsed.title,
                    "description": parsed.description,
                    "source": parsed.source,
                    "attribution": parsed.attribution,
                    "is_builtin": builtin,
                },
            )
        latest = checklist.versions.order_by("-number").first()
        digest = parsed.content_hash()
        current = None
        if latest is not None:
            current = latest.content_hash if latest.is_published else version_content_hash(latest)
        if latest is not None and current == digest:
            if publish and not latest.is_published:
                latest = version_publish(version=latest, by=by)
                latest.checklist = checklist
            return ImportResult(checklist, latest, "no_change", warnings=list(warnings or []))
        if not created:
            checklist.title = parsed.title
            checklist.description = parsed.description or checklist.description
            checklist.source = parsed.source or checklist.source
            checklist.attribution = parsed.attribution or checklist.attribution
            attributed(checklist, by=by, reason="Imported a new version")
            checklist.save()
        version = _create_version(
            checklist=checklist,
            parsed=parsed,
            previous=latest,
            by=by,
            warnings=list(warnings or []),
            note="Imported" if latest is None else f"Imported over v{latest.number}",
        )
        if publish:
            version = version_publish(version=version, by=by)
            version.checklist = checklist
        diff = version_diff(latest, version) if latest is not None else None
    return ImportResult(
        checklist,
        version,
        "created" if latest is None else "new_version",
        diff=diff,
        warnings=list(warnings or []),
    )


def _validate(row: models.Model, *, exclude: tuple[str, ...] = ()) -> None:
    """The model's field rules (control characters, lengths) before a row is written.

    Uniqueness is left to the database constraints, so this costs no queries.
    """
    try:
        row.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        problems = [f"{name}: {msg}" for name, msgs in exc.message_dict.items() for msg in msgs]
        raise ChecklistError(
            f"The {row._meta.verbose_name} cannot be saved: {'; '.join(problems)}"
        ) from None


@dataclass(frozen=True)
class ImportPreview:
    """What importing would do, worked out in a transaction that is rolled back."""

    outcome: str
    version_number: int
    summary: str
    added: list[str]
    removed: list[str]
    changed: list[str]


class _Rollback(Exception):
    pass


def checklist_import_preview(*, parsed: ParsedChecklist) -> ImportPreview:
    """The outcome and diff of importing ``parsed``, without keeping anything."""
    preview: ImportPreview | None = None
    try:
        with transaction.atomic():
            result = checklist_import(parsed=parsed, by=None)
            diff = result.diff
            preview = ImportPreview(
                outcome=result.outcome,
                version_number=result.version.number,
                summary=diff.summary() if diff else "",
                added=[f"{item.text}" for item in diff.added] if diff else [],
                removed=[f"{item.text}" for item in diff.removed] if diff else [],
                changed=[
                    f"{change.new.text} ({', '.join(change.fields)})" for change in diff.changed
                ]
                if diff
                else [],
            )
            raise _Rollback
    except _Rollback:
        pass
    assert preview is not None
    return preview


def _create_version(
    *,
    checklist: Checklist,
    parsed: ParsedChecklist,
    previous: ChecklistVersion | None,
    by: User | None,
    warnings: list[str],
    note: str,
) -> ChecklistVersion:
    number = (checklist.versions.aggregate(top=Max("number"))["top"] or 0) + 1
    version = ChecklistVersion(
        checklist=checklist,
        number=number,
        required_signoff_roles=parsed.signoff_roles,
        content_hash=parsed.content_hash(),
        item_count=parsed.item_count,
        must_have_count=parsed.must_have_count,
        import_warnings=warnings,
        change_note=note,
        created_by=by,
    )
    _validate(version, exclude=_VERSION_LINKS)
    attributed(version, by=by, reason=note)
    version.save()
    refs = _assign_refs(parsed, previous)
    section_rows = [
        Section(version=version, title=section.title, order=position)
        for position, section in enumerate(parsed.sections)
    ]
    for section_row in section_rows:
        _validate(section_row, exclude=("version",))
    sections = ledger.bulk_create_recorded(section_rows, Section, by=by, reason=note)
    items = []
    for section_row, section in zip(sections, parsed.sections, strict=True):
        for position, item in enumerate(section.items):
            items.append(
                Item(
                    version=version,
                    section=section_row,
                    ref=refs[id(item)],
                    text=item.text,
                    guidance=item.guidance,
                    must_have=item.must_have,
                    order=position,
                    checks=[check.model_dump() for check in item.checks],
                )
            )
    for item_row in items:
        _validate(item_row, exclude=("version", "section"))
    ledger.bulk_create_recorded(items, Item, by=by, reason=note)
    return version


_VERSION_LINKS = ("checklist", "created_by", "published_by")


def _assign_refs(parsed: ParsedChecklist, previous: ChecklistVersion | None) -> dict[int, str]:
    """Reference ids for parsed items: explicit, else the matching previous item's, else new.

    An item matches a previous one with the same text; failing that, the most similar
    unmatched previous item in a section of the same title, if similar enough.
    """
    old = list(previous.items.select_related("section")) if previous is not None else []
    taken = {item.ref for section in parsed.sections for item in section.items if item.ref}
    by_text: dict[str, Item] = {}
    for row in old:
        by_text.setdefault(_normal(row.text), row)
    refs: dict[int, str] = {}
    pending = []
    for section in parsed.sections:
        for item in section.items:
            if item.ref:
                refs[id(item)] = item.ref
                continue
            match = by_text.get(_normal(item.text))
            if match is not None and match.ref not in taken:
                refs[id(item)] = match.ref
                taken.add(match.ref)
            else:
                pending.append((section.title, item))
    for section_title, item in pending:
        candidates = [row for row in old if row.ref not in taken]
        best, best_ratio = None, SAME_ITEM_SIMILARITY
        for row in candidates:
            ratio = difflib.SequenceMatcher(None, _normal(row.text), _normal(item.text)).ratio()
            bonus = 0.05 if row.section.title == section_title else 0.0
            if ratio + bonus > best_ratio:
                best, best_ratio = row, ratio + bonus
        if best is not None:
            refs[id(item)] = best.ref
            taken.add(best.ref)
        else:
            refs[id(item)] = _unique(slug_for(item.text), taken)
            taken.add(refs[id(item)])
    return refs


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def _unique(base: str, taken: set[str]) -> str:
    candidate, n = base, 2
    while candidate in taken:
        suffix = f"-{n}"
        candidate = base[: 80 - len(suffix)] + suffix
        n += 1
    return candidate


def version_content_hash(version: ChecklistVersion) -> str:
    """The content digest computed from the stored rows (same recipe as an import)."""
    sections = []
    for section in version.sections.order_by("order", "id").prefetch_related("items"):
        rows = sorted(section.items.all(), key=lambda row: (row.order, row.id))
        sections.append(
            (
                section.title,
                [(row.text, row.guidance, row.must_have, row.checks) for row in rows],
            )
        )
    return content_hash(list(version.required_signoff_roles), sections)


def version_publish(*, version: ChecklistVersion, by: User | None) -> ChecklistVersion:
    """Publish a draft. From then on it never changes."""
    with transaction.atomic():
        locked: ChecklistVersion = ChecklistVersion.objects.select_for_update().get(pk=version.pk)
        if locked.is_published:
            raise ChecklistError(f"{locked} is already published.")
        items = list(locked.items.select_related("section"))
        if not items:
            raise ChecklistError(f"{locked} has no items; add some before publishing.")
        if not locked.required_signoff_roles:
            raise ChecklistError(f"{locked} names no sign-off roles.")
        mismatched = [i for i in items if i.section.version_id != locked.pk]
        if mismatched:
            raise ChecklistError(f"{len(mismatched)} item(s) sit in another version's section.")
        # Drafts may have been edited in the admin: the summary is taken from the rows.
        locked.content_hash = version_content_hash(locked)
        locked.item_count = len(items)
        locked.must_have_count = sum(item.must_have for item in items)
        locked.status = VersionStatus.PUBLISHED
        locked.published_at = timezone.now()
        locked.published_by = by
        attributed(locked, by=by, reason="Published")
        locked.save()
    return locked


def version_new_draft(*, version: ChecklistVersion, by: User | None) -> ChecklistVersion:
    """A new draft version that starts as a copy of ``version`` (same refs)."""
    with transaction.atomic():
        checklist = Checklist.objects.select_for_update().get(pk=version.checklist_id)
        number = (checklist.versions.aggregate(top=Max("number"))["top"] or 0) + 1
        note = f"Draft from v{version.number}"
        draft = ChecklistVersion(
            checklist=checklist,
            number=number,
            required_signoff_roles=list(version.required_signoff_roles),
            content_hash=version.content_hash,
            item_count=version.item_count,
            must_have_count=version.must_have_count,
            change_note=note,
            created_by=by,
        )
        attributed(draft, by=by, reason=note)
        draft.save()
        sections = list(version.sections.order_by("order", "id").prefetch_related("items"))
        new_sections = ledger.bulk_create_recorded(
            [Section(version=draft, title=s.title, order=s.order) for s in sections],
            Section,
            by=by,
            reason=note,
        )
        items: list[Item] = []
        for old_section, new_section in zip(sections, new_sections, strict=True):
            items.extend(
                Item(
                    version=draft,
                    section=new_section,
                    ref=row.ref,
                    text=row.text,
                    guidance=row.guidance,
                    must_have=row.must_have,
                    order=row.order,
                    checks=row.checks,
                )
                for row in old_section.items.all()
            )
        ledger.bulk_create_recorded(items, Item, by=by, reason=note)
    return draft


def version_delete_draft(*, version: ChecklistVersion, by: User | None = None) -> None:
    """Delete a draft with its sections and items. Each keeps its history, and the rows
    that record the deletion name ``by`` and why, the cascaded ones too."""
    if version.is_published:
        raise PublishedVersionError(version)
    with transaction.atomic(), acting(by=by, reason=f"Draft {version} deleted"):
        version.delete()


__all__: list[Any] = [
    "ChecklistError",
    "ImportPreview",
    "ImportResult",
    "checklist_import",
    "checklist_import_preview",
    "version_delete_draft",
    "version_new_draft",
    "version_publish",
]
