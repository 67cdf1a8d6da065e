"""Writes that skip history, and history that could be lost, found in the source.

django-simple-history records a save or a delete, never ``QuerySet.update()``,
``bulk_update()`` or ``bulk_create()``. This module reads the project's own code (the
``ast`` of every module outside migrations and tests) and fails on any of them aimed at
a followed model unless it writes only fields left out of history, or it is in
``ALLOWED`` with its reason. Bulk creates of followed models go through
``portal.audit.ledger.bulk_create_recorded``, never simple-history's
``bulk_create_with_history`` (which sends no signal, so nothing reaches the record).

Retention: nothing may update or delete history rows or the record's lines and events,
in code or in raw SQL, and the admin changes none of them.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.db.models.signals import post_delete
from django.test import RequestFactory
from simple_history.models import HistoricalChanges, HistoricalRecords

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("portal", "reviews", "checklists")
BULK = {"update", "bulk_update", "bulk_create", "delete"}
MANAGERS = {"objects", "_default_manager", "_base_manager", "history"}
# The record itself: appended to, never changed.
RECORD = {"Entry", "AuditEvent", "ChainHead"}

# Bulk writes of followed models that are right as they are, each with why.
# Keyed "path:function: Model.method" ("?" for a model only the caller knows).
ALLOWED = {
    "portal/audit/ledger.py:append_many: Entry.bulk_create": (
        "the record's own lines, chained, in one insert"
    ),
    "portal/audit/ledger.py:bulk_create_recorded: ?.bulk_create": (
        "the one bulk create of followed models: history_recorded writes a row for each"
    ),
    "reviews/management/commands/bench_evidence.py:_prepare: Service.bulk_create": (
        "a benchmark's own scratch database (preflight_bench), refused elsewhere"
    ),
    "reviews/management/commands/bench_evidence.py:_prepare: Review.bulk_create": (
        "a benchmark's own scratch database"
    ),
    "reviews/management/commands/bench_evidence.py:_prepare: Review.delete": (
        "a benchmark's own scratch database"
    ),
    "reviews/management/commands/bench_evidence.py:_prepare: Service.delete": (
        "a benchmark's own scratch database"
    ),
    "reviews/portfolio/seed.py:seed_portfolio: Service.bulk_create": (
        "seed_portfolio: benchmark data in bulk, refused in production"
    ),
    "reviews/portfolio/seed.py:seed_portfolio: Review.bulk_create": "seed_portfolio, as above",
    "reviews/portfolio/seed.py:seed_portfolio: Answer.bulk_create": "seed_portfolio, as above",
    "reviews/models/visit.py:_written: ?.update": (
        "ReviewVisit (as cls): when each person last looked at a review, not in the record"
    ),
}


@dataclass(frozen=True)
class Found:
    path: str
    function: str
    model: str  # a class name, or "?" when the manager comes from a variable
    method: str
    fields: tuple[str, ...] | None  # the fields an update writes, when the code says

    @property
    def key(self) -> str:
        return f"{self.path}:{self.function}: {self.model}.{self.method}"


def _chain_root(node: ast.AST) -> tuple[str | None, bool]:
    """(the name a call chain starts from, whether it goes through a manager):
    ``Service.objects.filter(...).update`` -> ("Service", True)."""
    through_manager = False
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            if node.attr in MANAGERS:
                through_manager = True
            node = node.value
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            break
    return (node.id if isinstance(node, ast.Name) else None), through_manager


def _model_of(node: ast.AST, variables: dict[str, str]) -> str | None:
    """The model a queryset expression is of, if the code shows it."""
    name, through_manager = _chain_root(node)
    if name is None:
        return None
    if through_manager:
        return name if name[:1].isupper() else "?"
    return variables.get(name)


def _literal_fields(call: ast.Call, method: str) -> tuple[str, ...] | None:
    if method == "update" and not call.args:
        names = [k.arg for k in call.keywords]
        return None if None in names else tuple(n for n in names if n)
    if method == "bulk_update" and len(call.args) >= 2:
        fields = call.args[1]
        if isinstance(fields, ast.List | ast.Tuple) and all(
            isinstance(e, ast.Constant) for e in fields.elts
        ):
            return tuple(str(e.value) for e in fields.elts)
    return None


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str) -> None:
        self.path = path
        self.function = "<module>"
        self.variables: dict[str, str] = {}
        self.found: list[Found] = []
        self.helpers: list[str] = []

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        outer = (self.function, self.variables)
        self.function, self.variables = node.name, {}
        self.generic_visit(node)
        self.function, self.variables = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Assign(self, node: ast.Assign) -> None:
        model = _model_of(node.value, self.variables)
        for target in node.targets:
            if isinstance(target, ast.Name) and model is not None:
                self.variables[target.id] = model
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("bulk_create_with_history", "bulk_update_with_history"):
            self.helpers.append(f"{self.path}:{self.function}: {name}")
        if isinstance(func, ast.Attribute) and func.attr in BULK:
            is_delete_of_query = func.attr != "delete" or not node.args
            model = _model_of(func.value, self.variables)
            if model is not None and is_delete_of_query:
                self.found.append(
                    Found(
                        self.path,
                        self.function,
                        model,
                        func.attr,
                        _literal_fields(node, func.attr),
                    )
                )
        self.generic_visit(node)


def _modules() -> list[Path]:
    files = []
    for source in SOURCES:
        for path in sorted((ROOT / source).rglob("*.py")):
            if "migrations" not in path.parts and "__pycache__" not in path.parts:
                files.append(path)
    return files


def scan() -> tuple[list[Found], list[str]]:
    found, helpers = [], []
    for path in _modules():
        scanner = _Scanner(str(path.relative_to(ROOT)))
        scanner.visit(ast.parse(path.read_text(), filename=str(path)))
        found += scanner.found
        helpers += scanner.helpers
    return found, helpers


def followed_models() -> dict[str, Any]:
    """Class name -> model, for every model that keeps history."""
    return {
        m.__name__: m
        for m in apps.get_models()
        if hasattr(m._meta, "simple_history_manager_attribute")
    }


def history_tables() -> set[str]:
    return {m._meta.db_table for m in apps.get_models() if issubclass(m, HistoricalChanges)}


def left_out_of_history(model: Any) -> set[str]:
    tracked = model.history.model.tracked_fields
    names = {f.name for f in model._meta.concrete_fields} | {
        f.attname for f in model._meta.concrete_fields
    }
    return names - {f.name for f in tracked} - {f.attname for f in tracked}


# --- the scan -----------------------------------------------------------------------------------


def test_the_scanner_finds_what_it_looks_for():
    sample = """
def f():
    Service.objects.filter(pk=1).update(name="x")
    old = Review.objects.filter(service=1)
    old.delete()
    model._default_manager.bulk_create([])
    bulk_create_with_history([], Answer)
    answer.delete()  # an instance: its delete is recorded
    values.update({"a": 1})  # a dict
"""
    scanner = _Scanner("sample.py")
    scanner.visit(ast.parse(sample))
    assert [f.key for f in scanner.found] == [
        "sample.py:f: Service.update",
        "sample.py:f: Review.delete",
        "sample.py:f: ?.bulk_create",
    ]
    assert scanner.found[0].fields == ("name",)
    assert scanner.helpers == ["sample.py:f: bulk_create_with_history"]


def test_no_bulk_write_skips_the_history_of_a_followed_model(db):
    followed = followed_models()
    found, helpers = scan()
    unexplained = []
    for write in found:
        model = followed.get(write.model)
        if model is None and write.model not in ("?", *RECORD):
            continue  # a model that keeps no history (check results, snapshots...)
        if write.key in ALLOWED:
            continue
        only_left_out = (
            model is not None
            and write.method in ("update", "bulk_update")
            and bool(write.fields)
            and set(write.fields or ()) <= left_out_of_history(model)
        )
        if only_left_out:
            continue  # only fields history leaves out (last_used_at, current_review)
        unexplained.append(write.key)
    assert not helpers, (
        "Use portal.audit.ledger.bulk_create_recorded, which records the history and the "
        f"record's lines: {helpers}"
    )
    assert not unexplained, (
        "These bulk writes skip the history of a followed model: save each record through "
        "a service (or use portal.audit.ledger.bulk_create_recorded), or add the write to "
        f"ALLOWED with why: {unexplained}"
    )


def test_every_allowed_write_is_still_there():
    keys = {write.key for write in scan()[0]}
    assert not set(ALLOWED) - keys, sorted(set(ALLOWED) - keys)


# --- retention: nothing deletes history ----------------------------------------------------------


def test_no_code_changes_or_deletes_history_or_the_record():
    history_models = {m.__name__ for m in apps.get_models() if issubclass(m, HistoricalChanges)}
    found, _helpers = scan()
    touching = [
        w.key
        for w in found
        if (w.model in history_models or w.model in RECORD)
        and w.method in ("update", "bulk_update", "delete")
    ]
    history_calls = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in _modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("update", "delete", "bulk_update")
        and ".history" in ast.unparse(node.func.value)
    ]
    assert not touching, touching
    assert not history_calls, history_calls


SQL_WRITE = re.compile(
    r"\b(update|delete\s+from|truncate(\s+table)?|drop\s+table|alter\s+table)\s+\"?"
    r"(\w*historical\w*|audit_entry|audit_auditevent|audit_chainhead)\b",
    re.IGNORECASE,
)


def test_no_sql_in_the_app_rewrites_history_or_the_record():
    found = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
            if is_text and SQL_WRITE.search(node.value):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, found


def test_no_followed_model_deletes_its_history_with_it():
    assert not getattr(settings, "SIMPLE_HISTORY_EDIT", False)  # history is not editable
    for name, model in followed_models().items():
        sync_receivers, _async_receivers = post_delete._live_receivers(model)
        recorders = [
            r.__self__
            for r in sync_receivers
            if isinstance(getattr(r, "__self__", None), HistoricalRecords)
        ]
        assert recorders, name  # a delete writes its "-" row
        assert not any(r.cascade_delete_history for r in recorders), name


def test_the_admin_changes_no_history_and_no_line_of_the_record(admin_user):
    admin_user.is_superuser = True
    admin_user.save()
    request = RequestFactory().post("/admin/")
    request.user = admin_user
    protected = {m for m in apps.get_models() if issubclass(m, HistoricalChanges)} | {
        apps.get_model("audit", name) for name in RECORD
    }
    for model, model_admin in admin.site._registry.items():
        if model not in protected:
            continue
        assert not model_admin.has_add_permission(request), model
        assert not model_admin.has_change_permission(request), model
        assert not model_admin.has_delete_permission(request), model


@pytest.mark.parametrize("name", sorted(RECORD))
def test_the_record_models_have_no_cascade_that_deletes_them(name):
    """A line or event never goes with the person or record it names."""
    model = apps.get_model("audit", name)
    for field in model._meta.concrete_fields:
        if field.is_relation:
            assert field.remote_field.on_delete.__name__ != "CASCADE", (name, field.name)
