from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from checklists.parsers import ImportFileError, parse_file
from checklists.services import ChecklistError, checklist_import


class Command(BaseCommand):
    help = (
        "Import a checklist from Markdown, plain text, YAML or JSON. Unchanged content "
        "creates nothing; changed content creates a new draft version and prints the diff."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--publish", action="store_true", help="Publish the version.")

    def handle(self, *args: Any, path: Path, publish: bool, **options: Any) -> None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from None
        try:
            parsed = parse_file(path.name, data)
            result = checklist_import(
                parsed=parsed.checklist, by=None, warnings=parsed.warnings, publish=publish
            )
        except (ImportFileError, ChecklistError) as exc:
            raise CommandError(f"{path.name}: {exc}") from None
        for warning in parsed.warnings:
            self.stderr.write(self.style.WARNING(f"Warning: {warning}"))
        version = result.version
        counts = (
            f"{len(parsed.checklist.sections)} sections, {version.item_count} items, "
            f"{version.must_have_count} must-haves"
        )
        state = "published" if version.is_published else "draft"
        if result.outcome == "no_change":
            self.stdout.write(f"{version.checklist.title}: no change (v{version.number}, {state}).")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"{version.checklist.title}: v{version.number} ({state}) created: {counts}."
            )
        )
        if result.diff is not None:
            self.stdout.write(f"Changes from v{result.diff.old.number}: {result.diff.summary()}.")
            for item in result.diff.added:
                self.stdout.write(f"  + {item.ref}: {item.text}")
            for item in result.diff.removed:
                self.stdout.write(f"  - {item.ref}: {item.text}")
            for change in result.diff.changed:
                self.stdout.write(f"  ~ {change.ref}: {', '.join(change.fields)} changed")
