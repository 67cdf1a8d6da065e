"""The checklist library: checklists, their versions, sections and items.

A published version never changes. The guard is on the models and their querysets, so
every path (services, the admin, forms, shells) meets it: saving, updating or deleting
anything that belongs to a published version raises ``PublishedVersionError``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.urls import reverse

from portal.accounts.roles import Role
from portal.audit.history import recorded
from portal.validators import multi_line_text, single_line_text


class PublishedVersionError(Exception):
    """An attempt to change a published checklist version, which is immutable."""

    def __init__(self, version: Any = None) -> None:
        name = f"{version} is published" if version is not None else "That version is published"
        super().__init__(f"{name} and cannot be changed. Create a new draft version instead.")


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"


class Checklist(models.Model):
    """A named checklist; its content lives in numbered versions."""

    slug = models.SlugField(max_length=80, unique=True, validators=[single_line_text])
    title = models.CharField(max_length=300, validators=[single_line_text])
    description = models.TextField(blank=True, validators=[multi_line_text])
    source = models.CharField(
        max_length=300,
        blank=True,
        help_text="Where the content came from.",
        validators=[single_line_text],
    )
    attribution = models.TextField(blank=True, validators=[multi_line_text])
    is_builtin = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    history = recorded()

    class Meta:
        ordering = ("title",)

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("checklists:checklist", args=[self.slug])


class GuardedQuerySet(models.QuerySet[Any]):
    """Bulk updates and deletes refuse to touch published versions."""

    published_lookup: ClassVar[str]

    def _refuse_if_published(self) -> None:
        if self.filter(**{self.published_lookup: VersionStatus.PUBLISHED}).exists():
            raise PublishedVersionError()

    def update(self, **kwargs: Any) -> int:
        self._refuse_if_published()
        _refuse_targets(self.model, kwargs)
        return super().update(**kwargs)

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[Any]:
        objs = list(objs)
        for obj in objs:
            _refuse_targets(
                self.model,
                {
                    "version_id": getattr(obj, "version_id", None),
                    "section_id": getattr(obj, "section_id", None),
                },
            )
        return super().bulk_create(objs, *args, **kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        self._refuse_if_published()
        return super().delete()


class VersionQuerySet(GuardedQuerySet):
    published_lookup = "status"

    def published(self) -> VersionQuerySet:
        return self.filter(status=VersionStatus.PUBLISHED)


class SectionQuerySet(GuardedQuerySet):
    published_lookup = "version__status"


class ItemQuerySet(GuardedQuerySet):
    published_lookup = "version__status"


class ChecklistVersion(models.Model):
    """One version of a checklist's content. Drafts can be edited; published ones never."""

    checklist = models.ForeignKey(Checklist, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=10,
        choices=VersionStatus.choices,
        default=VersionStatus.DRAFT,
        validators=[single_line_text],
    )
    required_signoff_roles = models.JSONField(default=list)
    content_hash = models.CharField(max_length=64, validators=[single_line_text])
    item_count = models.PositiveIntegerField(default=0)
    must_have_count = models.PositiveIntegerField(default=0)
    import_warnings = models.JSONField(default=list, blank=True)
    change_note = models.TextField(blank=True, validators=[multi_line_text])
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = VersionQuerySet.as_manager()
    history = recorded()

    class Meta:
        ordering = ("checklist__title", "-number")
        constraints = [
            models.UniqueConstraint(fields=["checklist", "number"], name="unique_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.checklist.title} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Immutability guard (not a flow): the stored row decides, not this object, so
        # publishing (draft -> published) passes and nothing after it does.
        _refuse_if_version_published(self.pk)
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("checklists:version", args=[self.checklist.slug, self.number])

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        _refuse_if_version_published(self.pk)
        return super().delete(*args, **kwargs)

    @property
    def is_published(self) -> bool:
        return self.status == VersionStatus.PUBLISHED

    @property
    def signoff_role_labels(self) -> list[str]:
        labels = {role.value: str(role.label) for role in Role}
        return [labels.get(value, value) for value in self.required_signoff_roles]


def _refuse_targets(model: Any, values: dict[str, Any]) -> None:
    """Refuse writes that would move rows into a published version or its sections."""
    if model is ChecklistVersion:
        return
    for name in ("version", "version_id"):
        if values.get(name) is not None:
            _refuse_if_version_published(getattr(values[name], "pk", values[name]))
    for name in ("section", "section_id"):
        if values.get(name) is not None:
            section_id = getattr(values[name], "pk", values[name])
            _refuse_if_version_published(
                Section.objects.filter(pk=section_id).values_list("version_id", flat=True).first()
            )


def _refuse_if_version_published(version_id: int | None) -> None:
    if version_id is None:
        return
    published = ChecklistVersion.objects.filter(pk=version_id, status=VersionStatus.PUBLISHED)
    version = published.select_related("checklist").first()
    if version is not None:
        raise PublishedVersionError(version)


class VersionContent(models.Model):
    """Rows that belong to one version (sections, items): refused once it is published."""

    version_id: int | None

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        _refuse_if_version_published(self.version_id)
        if self.pk:  # the stored row decides too: moving a row out of a published version
            _refuse_if_version_published(self._stored_version_id())
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        _refuse_if_version_published(self.version_id)
        if self.pk:
            _refuse_if_version_published(self._stored_version_id())
        return super().delete(*args, **kwargs)

    def _stored_version_id(self) -> int | None:
        manager = type(self)._default_manager
        # The concrete models have the field; the abstract base cannot show mypy that.
        rows = manager.filter(pk=self.pk).values_list("version_id", flat=True)  # type: ignore[misc]
        stored: int | None = rows.first()
        return stored


class Section(VersionContent):
    """A titled group of items within one checklist version."""

    version = models.ForeignKey(ChecklistVersion, on_delete=models.CASCADE, related_name="sections")
    title = models.CharField(max_length=300, validators=[single_line_text])
    order = models.PositiveIntegerField(default=0)

    objects = SectionQuerySet.as_manager()
    history = recorded()

    class Meta:
        ordering = ("version", "order", "id")

    def __str__(self) -> str:
        return self.title


class Item(VersionContent):
    """One thing a service must show, with a reference id that survives versions."""

    version = models.ForeignKey(ChecklistVersion, on_delete=models.CASCADE, related_name="items")
    section = models.ForeignKey(Section, on_delete=models.CASCADE, related_name="items")
    ref = models.SlugField(
        "reference id",
        max_length=80,
        help_text="Stable across versions: the same ref means the same requirement.",
        validators=[single_line_text],
    )
    text = models.TextField(validators=[multi_line_text])
    guidance = models.TextField(blank=True, help_text="Markdown.", validators=[multi_line_text])
    must_have = models.BooleanField(default=False)
    order = models.PositiveIntegerField(default=0)
    checks = models.JSONField(
        default=list,
        blank=True,
        help_text='Automated checks: [{"key": "http.health", "params": {}}]',
    )

    objects = ItemQuerySet.as_manager()
    history = recorded()

    class Meta:
        ordering = ("section__order", "order", "id")
        constraints = [models.UniqueConstraint(fields=["version", "ref"], name="unique_item_ref")]

    def __str__(self) -> str:
        return self.text[:80]

    def save(self, *args: Any, **kwargs: Any) -> None:
        _refuse_targets(Item, {"section_id": self.section_id})
        super().save(*args, **kwargs)
