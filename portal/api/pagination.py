"""The API's one pagination style: page numbers, as the pages have.

Every list answers ``{"items": [...], "count": N, "page": N, "pages": N}``: ``count``
is how many records the list holds in all (with its filters), ``pages`` how many pages
of ``PAGE_SIZE`` they fill (at least 1), and ``?page=N`` (from 1, default 1) picks one.
A page past the last is a 404. The records come from one sliced query; each list's
selector loads what its items show with it, so a page costs the same queries at any
size: one to count, one for the page, and one per prefetched relation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Generic, TypeVar

from django.db.models import Model, QuerySet
from ninja import Schema
from ninja.errors import HttpError
from ninja.params.functions import Query

from portal.forms import MAX_POSITIVE_INT

PAGE_SIZE = 50

Item = TypeVar("Item")
Row = TypeVar("Row", bound=Model)


class Page(Schema, Generic[Item]):
    """One page of a list."""

    items: list[Item]
    count: int
    page: int
    pages: int


def page_number() -> int:
    """The ``page`` query parameter of a list operation: ``page: int = page_number()``."""
    page: int = Query(
        1,
        ge=1,
        le=MAX_POSITIVE_INT,
        description=f"The page to answer, from 1; a page holds {PAGE_SIZE} records.",
    )
    return page


def paginate(rows: QuerySet[Row], page: int, item: Callable[[Row], Item]) -> Page[Item]:
    """Page ``page`` of ``rows`` (already filtered and ordered), each record made an item
    by ``item`` (which must not query: load what it reads in ``rows``)."""
    count = rows.count()
    pages = max(1, math.ceil(count / PAGE_SIZE))
    if page > pages:
        raise HttpError(404, f"There is no page {page}: this list has {pages}.")
    start = (page - 1) * PAGE_SIZE
    return Page[Item](
        items=[item(row) for row in rows[start : start + PAGE_SIZE]],
        count=count,
        page=page,
        pages=pages,
    )
