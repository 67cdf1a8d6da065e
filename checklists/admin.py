"""The admin is the editor for draft versions; published versions show read-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from checklists import services
from checklists.models import Checklist, ChecklistVersion, Item, PublishedVersionError, Section
from portal.audit.admin import RecordedAdmin


def _published(obj: Any) -> bool:
    if isinstance(obj, ChecklistVersion):
        return obj.is_published
    if isinstance(obj, Section):
        return obj.version.is_published
    return False


@admin.register(Checklist)
class ChecklistAdmin(RecordedAdmin):
    list_display = ("title", "slug", "is_builtin", "created_at")
    search_fields = ("title", "slug")
    readonly_fields = ("slug", "is_builtin", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # checklists come from an import, which gives them their slug


class ReadOnlyWhenPublished:
    """Inlines of a published version (or of its sections) can be read, not changed."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _published(obj) and super().has_change_permission(request, obj)  # type: ignore[misc]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _published(obj) and super().has_add_permission(request, obj)  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _published(obj) and super().has_delete_permission(request, obj)  # type: ignore[misc]


class SectionInline(ReadOnlyWhenPublished, admin.TabularInline[Section, ChecklistVersion]):
    model = Section
    fields = ("title", "order")
    extra = 0
    show_change_link = True


@admin.register(ChecklistVersion)
class ChecklistVersionAdmin(RecordedAdmin):
    list_display = ("__str__", "status", "item_count", "must_have_count", "published_at")
    list_filter = ("status", "checklist")
    fields = ("checklist", "number", "status", "required_signoff_roles", "change_note")
    readonly_fields = ("checklist", "number", "status")
    inlines = (SectionInline,)
    actions = ("publish", "new_draft")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # versions come from an import or "new draft"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _published(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _published(obj) and super().has_delete_permission(request, obj)

    @admin.action(description="Publish the selected drafts")
    def publish(self, request: HttpRequest, queryset: QuerySet[ChecklistVersion]) -> None:
        for version in queryset:
            try:
                services.version_publish(version=version, by=request.user)  # type: ignore[arg-type]
            except (services.ChecklistError, PublishedVersionError) as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"{version} is published.", messages.SUCCESS)

    @admin.action(description="Start a new draft from each selected version")
    def new_draft(self, request: HttpRequest, queryset: QuerySet[ChecklistVersion]) -> None:
        for version in queryset:
            draft = services.version_new_draft(version=version, by=request.user)  # type: ignore[arg-type]
            self.message_user(request, f"Created {draft}.", messages.SUCCESS)


class ItemInlineFormSet(forms.BaseInlineFormSet):  # type: ignore[type-arg]
    def clean(self) -> None:
        super().clean()
        section: Section = self.instance
        others = set(
            Item.objects.filter(version_id=section.version_id)
            .exclude(section=section)
            .values_list("ref", flat=True)
        )
        seen: set[str] = set()
        for form in self.forms:
            if not form.cleaned_data or form.cleaned_data.get("DELETE"):
                continue
            ref = form.cleaned_data.get("ref")
            if ref in others or ref in seen:
                form.add_error("ref", f"Another item of this version already uses “{ref}”.")
            seen.add(ref)


class ItemInline(ReadOnlyWhenPublished, admin.StackedInline[Item, Section]):
    model = Item
    formset = ItemInlineFormSet
    fields = ("ref", "text", "guidance", "must_have", "order", "checks")
    extra = 0


@admin.register(Section)
class SectionAdmin(RecordedAdmin):
    list_display = ("title", "version", "order")
    list_filter = ("version__checklist",)
    fields = ("version", "title", "order")
    readonly_fields = ("version",)
    inlines = (ItemInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # add sections from their version's page

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _published(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _published(obj) and super().has_delete_permission(request, obj)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # New items belong to their section's version.
        for inline_form in formset.forms:
            if isinstance(inline_form.instance, Item):
                inline_form.instance.version_id = form.instance.version_id
        super().save_formset(request, form, formset, change)
