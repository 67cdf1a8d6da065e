"""The checklists Preflight ships with, built from the public seed documents."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from checklists.parsers import parse_file
from checklists.services import ImportResult, checklist_import

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
BUILTIN_FILES = (
    "18f-good-production-practices.md",
    "18f-logging-requirements.md",
    "hackney-production-deployment.yaml",
    "production-readiness.md",
)


@dataclass(frozen=True)
class BuiltinLoad:
    name: str
    result: ImportResult


def load_builtin_checklists() -> list[BuiltinLoad]:
    """Import and publish every built-in checklist; unchanged ones are left as they are."""
    loads = []
    for name in BUILTIN_FILES:
        path = BUILTIN_DIR / name
        parsed = parse_file(name, path.read_bytes())
        result = checklist_import(
            parsed=parsed.checklist, by=None, warnings=parsed.warnings, publish=True, builtin=True
        )
        loads.append(BuiltinLoad(name=name, result=result))
    return loads
