"""The README and docs/ stay true: every page is reachable from the README, every link
lands, the configuration table names exactly the variables the code reads, and the check
catalogue lists exactly the registered checks. No database: these read files."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from reviews.checks.collectors.base import all_check_types

BASE_DIR = Path(__file__).resolve().parent.parent
README = BASE_DIR / "README.md"
DOCS = BASE_DIR / "docs"
# Modules whose environment reads are configuration (tests and migrations read none).
CODE_DIRS = ("portal", "reviews", "checklists")
# Variables the code reads that are not settings of a deployment, and where each is told.
NOT_CONFIGURATION = {
    # Handed on to git so that it finds its helpers (reviews/checks/collectors/repository.py).
    "PATH": None,
    # The test suite's database name: a developer's setting.
    "TEST_DATABASE_NAME": DOCS / "development.md",
}
ENV_HELPER = re.compile(r"\benv_(?:str|secret|bool|int|list|choice|mapping|networks)\(")
ENV_READ = re.compile(
    r"\benv_(str|secret|bool|int|list|choice|mapping|networks)\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']"
    r"|\bos\.(?:environ\.get\(|environ\[|getenv\()\s*[\"']([A-Z][A-Z0-9_]*)[\"']"
)


def _pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("**/*.md"))]


def _prose(text: str) -> str:
    """The text without fenced code blocks or inline code, where brackets are not links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _links(page: Path) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", _prose(page.read_text(encoding="utf-8")))


def _slugs(page: Path) -> set[str]:
    """The anchors GitHub gives the page's headings."""
    slugs: set[str] = set()
    seen: Counter[str] = Counter()
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    for heading in re.findall(r"^#{1,6} +(.+?) *#* *$", text, re.M):
        plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", plain.lower()).replace(" ", "-")
        slugs.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return slugs


def _catalogue_keys() -> list[str]:
    """Every check key in a table row of docs/checks.md (``ci.*`` is a prefix, not a key)."""
    text = (DOCS / "checks.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    return [key for row in rows for key in re.findall(r"`([a-z][a-z0-9]*(?:\.[a-z0-9_]+)+)`", row)]


# --- reachable and linked ----------------------------------------------------------------


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(README.parent / link.split("#")[0]).resolve() for link in _links(README)}
    unlinked = [str(page.relative_to(BASE_DIR)) for page in _pages()[1:] if page not in linked]
    assert not unlinked, f"pages the README does not link to: {unlinked}"


@pytest.mark.parametrize("page", _pages(), ids=lambda page: str(page.relative_to(BASE_DIR)))
def test_every_relative_link_lands_on_a_file_and_heading_that_exist(page: Path) -> None:
    broken = []
    for link in _links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", link):  # https:, mailto:: not ours to check
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in _slugs(target):
            broken.append(f"{link}: no such heading in {target.name}")
    assert not broken, broken


def test_headings_get_github_style_anchors(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# What `make` does\n## Sign-in, roles and teams\n```\n# not a heading\n```\n"
        "## Speed\n## Speed\n",
        encoding="utf-8",
    )
    assert _slugs(page) == {"what-make-does", "sign-in-roles-and-teams", "speed", "speed-1"}


# --- configuration: the table and the code name the same variables ------------------------


def _variables_the_code_reads() -> set[str]:
    read: set[str] = set()
    for directory in CODE_DIRS:
        for module in (BASE_DIR / directory).glob("**/*.py"):
            if "migrations" in module.parts or module == BASE_DIR / "portal" / "env.py":
                continue
            source = module.read_text(encoding="utf-8")
            found = ENV_READ.findall(source)
            # A name built at run time would slip past this test: every helper call names
            # its variable in full.
            assert len(ENV_HELPER.findall(source)) == sum(1 for kind, _, _ in found if kind), (
                f"{module.relative_to(BASE_DIR)} reads a variable by a name built at run time"
            )
            for kind, helper_name, environ_name in found:
                read.add(helper_name or environ_name)
                if kind == "secret":  # env_secret reads NAME_FILE first
                    read.add(f"{helper_name}_FILE")
    procfile = (BASE_DIR / "Procfile").read_text(encoding="utf-8")
    return read | set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", procfile))


def _variables_configuration_names() -> set[str]:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    table = [line for line in text.splitlines() if line.startswith("| `")]
    return {
        name for line in table for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", line.split("|")[1])
    }


def test_the_configuration_table_names_exactly_the_variables_the_code_reads() -> None:
    read = _variables_the_code_reads()
    documented = _variables_configuration_names()
    # The reader itself must see what it is meant to: one read of each kind.
    assert {"SECRET_KEY_FILE", "GUNICORN_WORKERS", "EVIDENCE_S3_BUCKET", "PORT"} <= read
    assert {"CELERY_CONCURRENCY", "CHECK_ALLOWED_NETWORKS"} <= read
    assert set(NOT_CONFIGURATION) <= read, "an allowed exception is no longer read: drop it"
    undocumented = sorted(read - documented - set(NOT_CONFIGURATION))
    assert not undocumented, f"read by the code, missing from configuration.md: {undocumented}"
    unread = sorted(documented - read)
    assert not unread, f"in configuration.md, read by no code: {unread}"
    assert not documented & set(NOT_CONFIGURATION)


def test_the_variables_outside_the_configuration_are_told_where_they_belong() -> None:
    for name, page in NOT_CONFIGURATION.items():
        if page is not None:
            assert f"`{name}`" in page.read_text(encoding="utf-8"), (name, page.name)


# --- the check catalogue -----------------------------------------------------------------


def test_the_check_catalogue_lists_every_registered_check_once() -> None:
    listed = Counter(_catalogue_keys())
    registered = {check.key for check in all_check_types()}
    twice = sorted(key for key, count in listed.items() if count > 1)
    assert not twice, f"listed more than once in checks.md: {twice}"
    missing = sorted(registered - set(listed))
    assert not missing, f"registered, missing from checks.md: {missing}"
    unknown = sorted(set(listed) - registered)
    assert not unknown, f"in checks.md, registered by no family: {unknown}"
