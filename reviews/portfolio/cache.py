"""The portfolio's pages, cached and kept true by the record (see reviews.pagecache):
services, reviews and their stored summaries, teams and checklists are what it shows."""

from __future__ import annotations

from reviews.pagecache import VersionedPages

PAGES = VersionedPages(
    "portfolio", frozenset({"Service", "Review", "Team", "Checklist", "ChecklistVersion"})
)
VERSION_KEY = PAGES.version_key
PAGE_SECONDS = PAGES.seconds

version = PAGES.version
bump = PAGES.bump
bump_on_commit = PAGES.bump_on_commit
connect = PAGES.connect
cached_page = PAGES.cached_page
