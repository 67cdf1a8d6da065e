"""Reads of the checklist library that pages share: the library, a version, a diff."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Prefetch, QuerySet

from checklists.models import Checklist, ChecklistVersion, Item, Section, VersionStatus


def library() -> list[tuple[Checklist, list[ChecklistVersion]]]:
    """Every checklist with its versions, newest first (two queries in all)."""
    versions = ChecklistVersion.objects.order_by("-number")
    checklists = Checklist.objects.prefetch_related(Prefetch("versions", queryset=versions))
    return [(checklist, list(checklist.versions.all())) for checklist in checklists]


def latest_published(versions: list[ChecklistVersion]) -> ChecklistVersion | None:
    return next((v for v in versions if v.status == VersionStatus.PUBLISHED), None)


def version_with_content(slug: str, number: int) -> ChecklistVersion:
    """A version with its sections and their items loaded (three queries)."""
    items = Item.objects.order_by("order", "id")
    sections = Section.objects.order_by("order", "id").prefetch_related(
        Prefetch("items", queryset=items)
    )
    version: ChecklistVersion = (
        ChecklistVersion.objects.select_related("checklist", "published_by", "created_by")
        .prefetch_related(Prefetch("sections", queryset=sections))
        .get(checklist__slug=slug, number=number)
    )
    return version


def versions_of(checklist: Checklist) -> QuerySet[ChecklistVersion]:
    return checklist.versions.select_related("published_by").order_by("-number")


@dataclass(frozen=True)
class ItemChange:
    ref: str
    old: Item
    new: Item
    fields: tuple[str, ...]

    @property
    def must_have_flipped(self) -> bool:
        return "must_have" in self.fields


@dataclass
class VersionDiff:
    """What changed between two versions, keyed by item reference id."""

    old: ChecklistVersion
    new: ChecklistVersion
    added: list[Item] = field(default_factory=list)
    removed: list[Item] = field(default_factory=list)
    changed: list[ItemChange] = field(default_factory=list)
    signoff_roles_changed: bool = False
    reordered: bool = False

    @property
    def must_have_changes(self) -> list[ItemChange]:
        return [change for change in self.changed if change.must_have_flipped]

    @property
    def is_empty(self) -> bool:
        return not (
            self.added
            or self.removed
            or self.changed
            or self.signoff_roles_changed
            or self.reordered
        )

    def summary(self) -> str:
        if self.is_empty:
            return "no change"
        parts = [
            f"{len(self.added)} added",
            f"{len(self.removed)} removed",
            f"{len(self.changed)} changed",
        ]
        if self.must_have_changes:
            parts.append(f"{len(self.must_have_changes)} must-have flag(s) flipped")
        if self.signoff_roles_changed:
            parts.append("sign-off roles changed")
        if self.reordered:
            parts.append("items reordered")
        return ", ".join(parts)


_COMPARED = ("text", "guidance", "must_have", "checks")


def version_diff(old: ChecklistVersion, new: ChecklistVersion) -> VersionDiff:
    """Items added, removed and changed from ``old`` to ``new`` (two queries)."""
    before = {
        i.ref: i for i in old.items.select_related("section").order_by("section__order", "order")
    }
    after = {
        i.ref: i for i in new.items.select_related("section").order_by("section__order", "order")
    }
    diff = VersionDiff(
        old=old,
        new=new,
        signoff_roles_changed=sorted(old.required_signoff_roles)
        != sorted(new.required_signoff_roles),
    )
    for ref, item in after.items():
        previous = before.get(ref)
        if previous is None:
            diff.added.append(item)
            continue
        fields = tuple(name for name in _COMPARED if getattr(previous, name) != getattr(item, name))
        if previous.section.title != item.section.title:
            fields += ("section",)
        if fields:
            diff.changed.append(ItemChange(ref=ref, old=previous, new=item, fields=fields))
    diff.removed = [item for ref, item in before.items() if ref not in after]
    # Reordering: items in both versions, not moved to another section, in another order.
    moved = {change.ref for change in diff.changed if "section" in change.fields}
    kept_before = [ref for ref in before if ref in after and ref not in moved]
    kept_after = [ref for ref in after if ref in before and ref not in moved]
    diff.reordered = kept_before != kept_after
    return diff
