from typing import Any

from django.core.management.base import BaseCommand

from checklists.builtin import load_builtin_checklists


class Command(BaseCommand):
    help = "Import and publish the built-in checklists (safe to run on every deployment)."

    def handle(self, *args: Any, **options: Any) -> None:
        for load in load_builtin_checklists():
            version = load.result.version
            outcome = {
                "created": "created",
                "new_version": "new version",
                "no_change": "no change",
            }[load.result.outcome]
            self.stdout.write(
                f"{version.checklist.title}: v{version.number} ({outcome}), "
                f"{version.item_count} items, {version.must_have_count} must-haves"
            )
