"""Where each checklist record belongs in the shared record: its checklist is the root
and its version the branch."""

from __future__ import annotations

from typing import Any

from checklists.models import Checklist, ChecklistVersion, Item, Section
from portal.audit.registry import key, register


def _version_root(instance: Any) -> str | None:
    if "version" in instance._state.fields_cache:  # made with its version: no query
        checklist_id = instance.version.checklist_id
    else:
        version = ChecklistVersion.objects.filter(pk=instance.version_id)
        checklist_id = version.values_list("checklist_id", flat=True).first()
    return key("checklists.checklist", checklist_id) if checklist_id else None


def register_all() -> None:
    # Everyone signed in reads the library, and so its lines (portal.permissions).
    register(Checklist, root=lambda c: key(c), reads="checklists.view_library")
    register(
        ChecklistVersion,
        root=lambda v: key("checklists.checklist", v.checklist_id),
        branch=lambda v: key(v),
    )
    for model in (Section, Item):
        register(
            model,
            root=_version_root,
            branch=lambda i: key("checklists.checklistversion", i.version_id),
        )
