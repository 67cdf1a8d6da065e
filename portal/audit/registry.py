"""Which models the record follows, and where each one belongs.

Apps register their audited models here (in their AppConfig.ready), each with its
*root* (the service or checklist it belongs to) and its *branch* (the review, say), so
an answer's change shows on its review's and its service's timeline, and the feed can
be filtered by service, without the audit code ever importing the apps (NetBox's
``related_object``, in the large).

A registration may also name the permission that reads the records rooted at one of its
instances (``reads``: a service's lines are for whoever may read that service), and how
to reach a record's own page (``url``); ``portal.permissions`` decides with the one, the
timelines link back with the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Model

# A record's address in the record: "reviews.review:12".
Scope = Callable[[Any], "str | None"]
# A record's own page, if it has one.
Locate = Callable[[Any], "str | None"]

# Security events are lines of the record too, though no model is followed for them.
EVENTS = "audit.event"


@dataclass(frozen=True)
class Audited:
    label: str  # "reviews.answer"
    noun: str  # what people call one: "answer"
    root: Scope
    branch: Scope
    reads: str | None = None  # the permission that reads the records rooted here
    url: Locate | None = None


_REGISTRY: dict[str, Audited] = {}


def key(instance_or_label: Any, pk: Any = None) -> str:
    """The address of a record: ``key(answer)`` or ``key("reviews.answer", 5)``."""
    if pk is None:
        return f"{instance_or_label._meta.label_lower}:{instance_or_label.pk}"
    return f"{instance_or_label}:{pk}"


def _none(instance: Any) -> str | None:
    return None


def register(
    model: type[Model],
    *,
    root: Scope | None = None,
    branch: Scope | None = None,
    reads: str | None = None,
    url: Locate | None = None,
) -> None:
    """Follow ``model`` in the record. ``root``/``branch`` give an instance's service (or
    checklist) and review addresses (``key(...)``), or None. ``reads`` names the
    permission (of ``portal.permissions``) that reads the lines rooted at an instance;
    without it only auditors read them. ``url`` gives an instance's own page (by default
    its ``get_absolute_url``)."""
    label = model._meta.label_lower
    _REGISTRY[label] = Audited(
        label=label,
        noun=str(model._meta.verbose_name),
        root=root or _none,
        branch=branch or _none,
        reads=reads,
        url=url,
    )


def audited(label: str) -> Audited | None:
    return _REGISTRY.get(label)


def audited_labels() -> list[str]:
    return sorted(_REGISTRY)


def noun(label: str) -> str:
    """What people call a record of this kind ("answer", "security event")."""
    if label == EVENTS:
        return "security event"
    found = _REGISTRY.get(label)
    return found.noun if found else label.split(".", 1)[-1]


def record_kinds() -> list[tuple[str, str]]:
    """Every kind of record a line can be about, as (label, noun), by noun: the choices
    of the feed's "kind of record" filter."""
    kinds = [(label, noun(label)) for label in [*_REGISTRY, EVENTS]]
    return sorted(kinds, key=lambda kind: (kind[1].lower(), kind[0]))


def is_known(label: str) -> bool:
    """Whether lines of this kind of record can exist."""
    return label == EVENTS or label in _REGISTRY


def reader(label: str) -> str | None:
    """The permission that reads the lines rooted at a record of kind ``label``."""
    found = _REGISTRY.get(label)
    return found.reads if found else None


def page_url(instance: Any) -> str | None:
    """The record's own page, if it has one (its registration's ``url``, or
    ``get_absolute_url``)."""
    found = _REGISTRY.get(instance._meta.label_lower)
    if found is not None and found.url is not None:
        return found.url(instance)
    absolute = getattr(instance, "get_absolute_url", None)
    return str(absolute()) if callable(absolute) else None
