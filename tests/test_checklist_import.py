"""Importing checklists: the seed documents, the built-ins, every file format, bad files.

The counts below were checked by hand against the seed text, not only taken from the
importer (see each test's comment for how).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from checklists.builtin import BUILTIN_DIR
from checklists.models import Checklist, ChecklistVersion, Item, Section, VersionStatus
from checklists.parsers import MAX_FILE_BYTES, ImportFileError, parse_file, repair_text
from checklists.services import checklist_import
from tests.services import IN_CI

pytestmark = pytest.mark.django_db

# The public seed documents live in shared/seeds beside the checkout (as on CI);
# PREFLIGHT_SEEDS_DIR points elsewhere.
SEEDS = Path(
    os.environ.get("PREFLIGHT_SEEDS_DIR")
    or Path(__file__).resolve().parents[2] / "shared" / "seeds"
)
MOJIBAKE_MARKERS = ("‚Ä", "\uf8ff", "Äô", "üô")


def seed(name: str) -> Path:
    path = SEEDS / name
    if not path.is_file():
        message = (
            f"Seed document {path} is missing: the tests expect the shared/ folder "
            "beside the repository checkout (or set PREFLIGHT_SEEDS_DIR)."
        )
        if IN_CI:  # CI always has shared/ beside the clone: missing seeds are a failure
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def import_file(path: Path) -> tuple[str, str]:
    return run("import_checklist", str(path))


def shape(version: ChecklistVersion) -> list[tuple[str, int, int]]:
    """(section title, items, must-haves) for each section of a stored version, in order."""
    return [
        (
            section.title,
            section.items.count(),
            section.items.filter(must_have=True).count(),
        )
        for section in version.sections.order_by("order")
    ]


def item(version: ChecklistVersion, text: str) -> Item:
    return version.items.get(text=text)


def nothing_stored() -> bool:
    return (
        Checklist.objects.count(),
        ChecklistVersion.objects.count(),
        Section.objects.count(),
        Item.objects.count(),
    ) == (0, 0, 0, 0)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the seed documents --------------------------------------------------------------


def test_the_18f_good_production_practices_seed_imports_with_exact_counts():
    # By hand: 13 "###" headings; Monitoring has only a link paragraph, so 12 sections.
    # Items 5+9+4+3+4+4+6+2+3+4+3+3 = 50; bold-first items 2+2+1+2+1+1+1 = 10.
    out, err = import_file(seed("18f-good-production-practices.md"))

    assert out == (
        "Good Production Practices: v1 (draft) created: 12 sections, 50 items, 10 must-haves.\n"
    )
    assert "Warning: 1 heading(s) without list items were left out: “Monitoring”." in err
    checklist = Checklist.objects.get()
    assert (checklist.slug, checklist.title, checklist.is_builtin) == (
        "good-production-practices",
        "Good Production Practices",
        False,
    )
    version = checklist.versions.get()
    assert (version.number, version.status) == (1, VersionStatus.DRAFT)
    assert (version.item_count, version.must_have_count) == (50, 10)
    assert version.required_signoff_roles == ["security_reviewer"]
    assert version.import_warnings == [
        "1 heading(s) without list items were left out: “Monitoring”."
    ]
    assert shape(version) == [
        ("Backups", 5, 2),
        ("Deployment", 9, 0),
        ("Support", 4, 0),
        ("Logs", 3, 2),
        ("Alerting", 4, 1),
        ("Status communication", 4, 0),
        ("Security", 6, 2),
        ("Load-testing", 2, 0),
        ("Capacity-planning", 3, 1),
        ("Scalability", 4, 1),
        ("Resilience", 3, 0),
        ("Access Control", 3, 1),
    ]
    assert Item.objects.count() == 50
    assert Item.objects.filter(must_have=True).count() == 10
    # "**_Someone_ is alerted…**": bold with emphasis inside is a must-have, markup gone.
    alerted = item(version, "Someone is alerted, somehow, if a monitor test is failing")
    assert alerted.must_have is True
    assert alerted.section.title == "Alerting"
    # Links keep their text only.
    assert item(version, "Pin dependencies").must_have is False
    assert item(version, "Enable SSL for everything").guidance == ""
    assert (
        item(version, "All volatile data storage is on redundant infrastructure").ref
        == "all-volatile-data-storage-is-on-redundant-infrastructure"
    )


def test_the_tts_plain_text_seed_imports_as_one_section_with_a_warning():
    # By hand: bullets per block 5+9+5+4+4+6+2+3+4+3+3 = 48, and no bold in plain text.
    out, err = import_file(seed("tts-good-production-practices-plain.txt"))

    assert out == (
        "Good Production Practices: v1 (draft) created: 1 sections, 48 items, 0 must-haves.\n"
    )
    assert (
        "Warning: No sections or must-haves were found (the file has no headings and no bold "
        "text): all 48 items are in one section and none is a must-have. Review them before "
        "publishing." in err
    )
    # Its curly quotes are real typography, not mojibake: nothing is "repaired".
    assert "Repaired" not in err
    version = ChecklistVersion.objects.get()
    assert shape(version) == [("Items", 48, 0)]
    assert version.checklist.title == "Good Production Practices"
    texts = list(version.items.order_by("order").values_list("text", flat=True))
    assert texts[0] == "All volatile data storage is on redundant infrastructure"
    assert texts[-1] == "A/B cohorts/affinity supported"
    assert "Alerts triggered based on “out of the norm” thresholds" in texts
    assert "Resources are appropriately tagged" in texts


def test_the_hackney_seed_imports_its_pillars_and_the_lists_in_its_detail_sections():
    # By hand: the five bold pillar paragraphs hold 3+2+7+2+2 = 16 numbered items; the
    # detail sections add three more lists ("Read replicas…" 2 bullets, "Encryption" 7,
    # "API CloudWatch alarms" 2 numbered) = 27. No item starts in bold (they start with
    # links), so no must-haves. 8 sections.
    out, err = import_file(seed("hackney-production-deployment.md"))

    assert out == "Production Deployment: v1 (draft) created: 8 sections, 27 items, 0 must-haves.\n"
    assert "Warning: 27 heading(s) without list items were left out: “Context”, “Checklist”" in err
    assert "Warning: No must-haves were found (no item starts in bold)." in err
    version = ChecklistVersion.objects.get()
    assert version.checklist.slug == "production-deployment"
    assert shape(version) == [
        ("Security", 3, 0),
        ("High availability", 2, 0),
        ("Monitoring and alerting", 7, 0),
        ("Reliability", 2, 0),
        ("Cost optimization", 2, 0),
        ("Read replicas for RDS databases", 2, 0),
        ("Encryption", 7, 0),
        ("API CloudWatch alarms", 2, 0),
    ]
    encrypted = item(version, "Data is encrypted at rest for:")
    assert encrypted.guidance == (
        "- AWS RDS\n- AWS SNS\n- AWS OpenSearch\n- AWS S3\n"
        "- AWS MSK (Amazon Managed Streaming for Apache Kafka)\n- AWS DynamoDB\n- AWS Redshift"
    )
    public = item(version, "No publicly accessible resources")
    assert public.guidance.splitlines()[0] == "- [AWS S3 blocks public access](#aws-s3)"
    assert len(public.guidance.splitlines()) == 4
    assert item(version, "DynamoDB PITR is enabled").section.title == "Reliability"


def test_the_production_readiness_notes_seed_imports_repaired():
    # By hand: 84 top-level bullets under 22 headings that have lists ("DORA Reports",
    # "Logging", "Comics" and "Observability" have none); no bold items.
    out, err = import_file(seed("production-readiness-notes.md"))

    assert out == "Production: v1 (draft) created: 22 sections, 84 items, 0 must-haves.\n"
    assert "Warning: Repaired mis-encoded characters on 19 line(s)." in err
    assert (
        "Warning: 4 heading(s) without list items were left out: “DORA Reports”, “Logging”, "
        "“Comics”, “Observability”." in err
    )
    version = ChecklistVersion.objects.get()
    checklist_section = version.sections.get(title="Checklist: Production Readiness")
    assert checklist_section.items.count() == 7
    monitoring = checklist_section.items.get(text="Monitoring")
    assert monitoring.guidance.endswith("* This is the url we’ll setup a load balancer to ping")
    assert version.sections.filter(title="SLIs, SLOs, SLAs, Error Budgets … Oh My!").exists()
    assert version.items.filter(
        text="Leverage tooling, and automation (eg automate away last year’s job)"
    ).exists()
    assert version.items.filter(text__startswith="DEBUG –Any information").exists()
    stored = [
        *Section.objects.values_list("title", flat=True),
        *Item.objects.values_list("text", flat=True),
        *Item.objects.values_list("guidance", flat=True),
    ]
    leftovers = [text for text in stored if any(marker in text for marker in MOJIBAKE_MARKERS)]
    assert leftovers == []


def test_the_18f_infrastructure_guide_seed_imports_with_exact_counts():
    # By hand: 127 list lines start at column 0; 25 of them start in bold; 66 headings
    # (a "# or, ..." line sits in a code block) of which 32 are followed by a list.
    out, err = import_file(seed("18f-infrastructure-guide.md"))

    assert out == (
        "18f infrastructure guide: v1 (draft) created: 32 sections, 127 items, 25 must-haves.\n"
    )
    assert "Warning: 34 heading(s) without list items were left out" in err
    version = ChecklistVersion.objects.get()
    assert version.checklist.slug == "18f-infrastructure-guide"
    assert (version.item_count, version.must_have_count) == (127, 25)
    practices = version.sections.get(title="Good production practices")
    first = practices.items.order_by("order").first()
    assert first is not None
    # "**Must-have:**" is a label: the item is a must-have and the label is gone.
    assert first.must_have is True
    assert first.text.startswith("User-representative tests (eg can access service")
    assert "Must-have" not in first.text
    assert practices.items.count() == 7
    web = item(version, "For Web applications:")
    assert web.guidance.splitlines()[0] == "- All administrator activity"
    assert version.sections.get(title="What to log").items.count() == 8


# --- built-in checklists -------------------------------------------------------------

BUILTIN_SHAPES = {
    "18f-good-production-practices": (
        "18F Good Production Practices",
        [
            ("Backups", 5, 2),
            ("Deployment", 9, 0),
            ("Support", 4, 0),
            ("Logs", 3, 2),
            ("Monitoring", 7, 1),
            ("Alerting", 4, 1),
            ("Status communication", 4, 0),
            ("Security", 6, 2),
            ("Load-testing", 2, 0),
            ("Capacity-planning", 3, 1),
            ("Scalability", 4, 1),
            ("Resilience", 3, 0),
            ("Access Control", 3, 1),
        ],
    ),
    "18f-logging-requirements": (
        "18F Logging requirements",
        [
            ("Required events", 7, 7),
            ("Required events for web applications", 7, 7),
            ("Sensitive information", 1, 1),
            ("Traceability", 3, 0),
            ("If not using cloud.gov", 3, 0),
        ],
    ),
    "hackney-production-deployment": (
        "Hackney Production Deployment",
        [
            ("Security", 3, 3),
            ("High availability", 2, 1),
            ("Monitoring and alerting", 7, 5),
            ("Reliability", 2, 2),
            ("Cost optimization", 2, 0),
        ],
    ),
    "production-readiness": (
        "Production readiness",
        [("Production readiness", 6, 0), ("Monitoring", 4, 0)],
    ),
}


def test_the_builtin_checklists_load_published_with_exact_counts():
    out, _ = run("load_builtin_checklists")

    assert out.splitlines() == [
        "18F Good Production Practices: v1 (created), 57 items, 11 must-haves",
        "18F Logging requirements: v1 (created), 21 items, 15 must-haves",
        "Hackney Production Deployment: v1 (created), 16 items, 11 must-haves",
        "Production readiness: v1 (created), 10 items, 0 must-haves",
    ]
    assert Checklist.objects.count() == 4
    for slug, (title, sections) in BUILTIN_SHAPES.items():
        checklist = Checklist.objects.get(slug=slug)
        assert checklist.title == title
        assert checklist.is_builtin is True
        assert checklist.attribution
        version = checklist.versions.get()
        assert version.status == VersionStatus.PUBLISHED
        assert version.published_at is not None
        assert version.required_signoff_roles == ["security_reviewer"]
        assert shape(version) == sections, slug
        assert version.item_count == sum(count for _, count, _ in sections)
        assert version.must_have_count == sum(must for _, _, must in sections)
    assert Item.objects.count() == 57 + 21 + 16 + 10
    hackney = ChecklistVersion.objects.get(checklist__slug="hackney-production-deployment")
    encrypted = hackney.items.get(ref="data-encrypted-at-rest")
    assert encrypted.must_have is True
    assert "- AWS MSK (Amazon Managed Streaming for Apache Kafka)" in encrypted.guidance
    readiness = ChecklistVersion.objects.get(checklist__slug="production-readiness")
    assert readiness.import_warnings[0] == "Repaired mis-encoded characters on 2 line(s)."
    ping = readiness.items.get(
        text="Is there a /healthCheck url we can use to determine readiness?"
    )
    assert "we’ll" in ping.guidance


def test_the_builtin_monitoring_section_comes_from_the_infrastructure_guide():
    run("load_builtin_checklists")
    guide = parse_file(
        "18f-infrastructure-guide.md", seed("18f-infrastructure-guide.md").read_bytes()
    ).checklist
    source = next(s for s in guide.sections if s.title == "Good production practices")
    builtin = ChecklistVersion.objects.get(checklist__slug="18f-good-production-practices")
    monitoring = builtin.sections.get(title="Monitoring").items.order_by("order")

    assert len(monitoring) == len(source.items) == 7
    for ours, theirs in zip(monitoring, source.items, strict=True):
        assert theirs.text.startswith(ours.text)
        assert ours.must_have == theirs.must_have
    logging = ChecklistVersion.objects.get(checklist__slug="18f-logging-requirements")
    what_to_log = next(s for s in guide.sections if s.title == "What to log")
    required = logging.sections.get(title="Required events").items.order_by("order")
    assert [i.text for i in required] == [i.text for i in what_to_log.items[:7]]


def test_loading_the_builtin_checklists_twice_changes_nothing():
    run("load_builtin_checklists")
    versions = list(ChecklistVersion.objects.order_by("pk").values_list("pk", "content_hash"))

    out, _ = run("load_builtin_checklists")

    assert [line.split(": v1 ")[1].split(",")[0] for line in out.splitlines()] == [
        "(no change)"
    ] * 4
    assert list(ChecklistVersion.objects.order_by("pk").values_list("pk", "content_hash")) == (
        versions
    )
    assert not ChecklistVersion.objects.filter(status=VersionStatus.DRAFT).exists()


def test_the_builtin_files_are_the_ones_the_loader_reads():
    assert sorted(path.name for path in BUILTIN_DIR.iterdir()) == [
        "18f-good-production-practices.md",
        "18f-logging-requirements.md",
        "hackney-production-deployment.yaml",
        "production-readiness.md",
    ]


# --- re-importing ---------------------------------------------------------------------


def test_reimporting_an_unchanged_seed_reports_no_change_and_creates_nothing():
    path = seed("18f-good-production-practices.md")
    import_file(path)

    out, _ = import_file(path)

    assert out == "Good Production Practices: no change (v1, draft).\n"
    assert ChecklistVersion.objects.count() == 1
    assert Item.objects.count() == 50


def test_importing_changed_content_creates_a_draft_v2_and_prints_the_diff(tmp_path):
    original = seed("18f-good-production-practices.md")
    import_file(original)
    text = original.read_text(encoding="utf-8")
    text = text.replace("- Blue-green deployment\n", "")
    text = text.replace("- Support queue is public\n", "- Support queue is public and searchable\n")
    text = text.replace(
        "### Deployment\n\n", "### Deployment\n\n- **Deploys are reviewed by a second person**\n"
    )
    changed = write(tmp_path, original.name, text)

    out, _ = import_file(changed)

    assert out.splitlines() == [
        "Good Production Practices: v2 (draft) created: 12 sections, 50 items, 11 must-haves.",
        "Changes from v1: 1 added, 1 removed, 1 changed.",
        "  + deploys-are-reviewed-by-a-second-person: Deploys are reviewed by a second person",
        "  - blue-green-deployment: Blue-green deployment",
        "  ~ support-queue-is-public: text changed",
    ]
    assert list(ChecklistVersion.objects.order_by("number").values_list("number", "status")) == [
        (1, VersionStatus.DRAFT),
        (2, VersionStatus.DRAFT),
    ]
    assert ChecklistVersion.objects.get(number=1).items.count() == 50


LAUNCH_MD = "# Launch\n\n## Ops\n\n- **Backups run**\n- Docs exist\n"


def test_the_import_command_publishes_with_the_publish_option(tmp_path):
    path = write(tmp_path, "launch.md", LAUNCH_MD)

    run("import_checklist", str(path), "--publish")

    version = ChecklistVersion.objects.get()
    assert version.is_published
    assert version.published_at is not None
    assert version.history.first().history_change_reason == "Published"


def test_the_import_command_reports_a_published_version_as_published(tmp_path):
    path = write(tmp_path, "launch.md", LAUNCH_MD)

    out, _ = run("import_checklist", str(path), "--publish")

    assert out == "Launch: v1 (published) created: 1 sections, 2 items, 1 must-haves.\n"
    result = checklist_import(
        parsed=parse("launch.md", LAUNCH_MD + "- More\n").checklist, by=None, publish=True
    )
    assert result.version.is_published


# --- mojibake ---------------------------------------------------------------------------


def test_repair_text_restores_mac_roman_mojibake():
    assert repair_text("I‚Äôm ready") == ("I’m ready", 1)
    assert repair_text("we‚Äôll ping it") == ("we’ll ping it", 1)
    assert repair_text("Error Budgets ‚Ä¶ Oh My!") == ("Error Budgets … Oh My!", 1)
    assert repair_text("DEBUG ‚ÄìAny") == ("DEBUG –Any", 1)
    # An emoji whose Apple-logo lead byte was lost is put back together.
    assert repair_text("at some point üôÇ") == ("at some point 🙂", 1)
    # Lines are counted one by one; ASCII lines are never touched.
    assert repair_text("plain\nDon‚Äôt\nplain again\nI‚Äôm") == (
        "plain\nDon’t\nplain again\nI’m",
        2,
    )


@pytest.mark.parametrize(
    "text",
    [
        "Ñandú café crème brûlée",
        "São Paulo",
        "Zürich, Größe, naïve coöperation, façade",
        "“quoted” and ‘single’ — dashes – and … ellipsis",
        "Ελληνικά и русский",
        "résumé ✓ ✅ 🚀",
        "plain ASCII & <b>markup</b>",
    ],
)
def test_repair_text_leaves_ordinary_text_alone(text):
    assert repair_text(text) == (text, 0)


def test_repair_text_leaves_html_entities_alone():
    assert repair_text("Café &amp; crème, use &lt;b&gt;") == (
        "Café &amp; crème, use &lt;b&gt;",
        0,
    )


def test_the_seed_introduction_line_is_fully_repaired():
    text = seed("production-readiness-notes.md").read_text(encoding="utf-8")
    line = next(line for line in text.split("\n") if line.startswith("Stuff I think about"))

    repaired, changed = repair_text(line)

    # The seed keeps Mac Roman's Apple-logo lead byte (U+F8FF) in front of the emoji.
    assert repair_text("Ship it \uf8ffüôÇ") == ("Ship it 🙂", 1)
    assert changed == 1
    assert repaired == (
        "Stuff I think about when I’m getting a new application ready to run in prod. They "
        "have all caused me pain in one way or another at some point … 🙂"
    )


def test_mis_encoded_text_is_repaired_on_import_with_a_warning(tmp_path):
    path = write(
        tmp_path,
        "notes.md",
        "# Notes\n\n## Readiness ‚Ä¶ checks\n\n"
        "- I‚Äôm sure backups run\n    - This is the url we‚Äôll ping\n- Don‚Äôt log secrets\n"
        "- Ship it üôÇ\n",
    )

    _, err = import_file(path)

    assert "Warning: Repaired mis-encoded characters on 5 line(s)." in err
    version = ChecklistVersion.objects.get()
    assert shape(version) == [("Readiness … checks", 3, 0)]
    backups = item(version, "I’m sure backups run")
    assert backups.guidance == "- This is the url we’ll ping"
    assert item(version, "Don’t log secrets")
    assert item(version, "Ship it 🙂")
    assert version.import_warnings[0] == "Repaired mis-encoded characters on 5 line(s)."


# --- Markdown details -------------------------------------------------------------------


def parse(name: str, text: str):
    return parse_file(name, text.encode("utf-8"))


def test_front_matter_sets_title_slug_roles_and_description():
    result = parse(
        "whatever.md",
        "---\ntitle: Launch list\nslug: launch-list\n"
        "signoff_roles: [security_reviewer, manager]\ndescription: What we check.\n"
        "source: Our wiki\n---\n\n# Heading one\n\n- Backups run\n",
    )

    checklist = result.checklist
    assert (checklist.title, checklist.slug) == ("Launch list", "launch-list")
    assert checklist.signoff_roles == ["manager", "security_reviewer"]
    assert (checklist.description, checklist.source) == ("What we check.", "Our wiki")
    # With a title in the front matter, the H1 is a section.
    assert [s.title for s in checklist.sections] == ["Heading one"]
    assert result.format == "markdown"


def test_broken_front_matter_is_ignored_with_a_warning():
    result = parse("launch-list.md", "---\ntitle: [unclosed\n---\n\n- Backups run\n")

    assert result.checklist.title == "Launch list"
    assert any(w.startswith("Front matter ignored: The YAML is broken") for w in result.warnings)


def test_the_top_h1_is_the_title_and_the_file_name_is_the_fallback():
    assert parse("x.md", "# Go-live checks\n\n## Ops\n\n- a\n").checklist.title == "Go-live checks"
    fallback = parse("go_live-checks.md", "## Ops\n\n- a\n").checklist
    assert fallback.title == "Go live checks"
    assert fallback.signoff_roles == ["security_reviewer"]
    # An H1 after other content is a section, not the title.
    later = parse("later.md", "Intro.\n\n# Ops\n\n- a\n").checklist
    assert (later.title, [s.title for s in later.sections]) == ("Later", ["Ops"])


def test_a_whole_bold_short_paragraph_is_a_section_heading():
    checklist = parse(
        "bold.md",
        "**Security**\n\n- TLS everywhere\n\n**Not a heading: it ends in a colon:**\n\n"
        "- Scans run\n\n**Part bold** then plain text.\n\n- Keys rotate\n\n"
        "**High availability**\n1. Three zones\n",
    ).checklist

    assert [(s.title, [i.text for i in s.items]) for s in checklist.sections] == [
        ("Security", ["TLS everywhere", "Scans run", "Keys rotate"]),
        ("High availability", ["Three zones"]),
    ]


def test_explicit_refs_are_kept_and_stripped_from_the_text():
    path_text = (
        "# Refs\n\n## Ops\n\n- Backups run nightly {#nightly-backups}\n"
        "- **Must-have:** Restores are tested {#restore-tests}\n- No ref here\n"
        "- Upper case is not a ref {#Nope}\n"
    )
    items = parse("refs.md", path_text).checklist.sections[0].items

    assert [(i.text, i.ref, i.must_have) for i in items] == [
        ("Backups run nightly", "nightly-backups", False),
        ("Restores are tested", "restore-tests", True),
        ("No ref here", None, False),
        ("Upper case is not a ref {#Nope}", None, False),
    ]


def test_explicit_refs_are_stored_and_other_items_get_refs_from_their_text(tmp_path):
    path = write(
        tmp_path,
        "refs.md",
        "# Refs\n\n## Ops\n\n- Backups run nightly {#nightly-backups}\n- Docs exist\n"
        "- Docs exist\n",
    )

    import_file(path)

    refs = list(Item.objects.order_by("order").values_list("ref", "text"))
    assert refs == [
        ("nightly-backups", "Backups run nightly"),
        ("docs-exist", "Docs exist"),
        ("docs-exist-2", "Docs exist"),
    ]


def test_ordered_lists_and_items_before_any_heading():
    checklist = parse(
        "ordered.md",
        "Some intro text.\n\n1. First thing\n2. Second thing\n\n## Later\n\n3) Third thing\n",
    ).checklist

    assert [(s.title, [i.text for i in s.items]) for s in checklist.sections] == [
        ("General", ["First thing", "Second thing"]),
        ("Later", ["Third thing"]),
    ]


def test_must_haves_start_in_bold_and_the_label_is_stripped():
    items = (
        parse(
            "bold.md",
            "## S\n\n- **Wholly bold**\n- **Must-have:** Labelled\n- **must have:** lower case\n"
            "- **Lead** phrase then text\n- Bold **later** is not\n- *Italic* is not\n",
        )
        .checklist.sections[0]
        .items
    )

    assert [(i.text, i.must_have) for i in items] == [
        ("Wholly bold", True),
        ("Labelled", True),
        ("lower case", True),
        ("Lead phrase then text", True),
        ("Bold later is not", False),
        ("Italic is not", False),
    ]


def test_nested_lists_and_further_paragraphs_become_guidance():
    items = (
        parse(
            "guidance.md",
            "## S\n\n- Backups run\n\n  Check the **restore** log.\n\n  - nightly\n  - weekly\n"
            "- Next item\n",
        )
        .checklist.sections[0]
        .items
    )

    assert items[0].text == "Backups run"
    assert items[0].guidance == "Check the **restore** log.\n\n- nightly\n- weekly"
    assert (items[1].text, items[1].guidance) == ("Next item", "")


def test_html_in_markdown_items_stays_text(tmp_path):
    path = write(
        tmp_path,
        "html.md",
        "## S\n\n- <script>alert('x')</script> stays text\n- <b>Bold tag</b> is not a must-have\n"
        "- An <img src=x onerror=alert(1)> image tag\n\n<div>block html</div>\n",
    )

    import_file(path)

    assert list(Item.objects.order_by("order").values_list("text", "must_have")) == [
        ("<script>alert('x')</script> stays text", False),
        ("<b>Bold tag</b> is not a must-have", False),
        ("An <img src=x onerror=alert(1)> image tag", False),
    ]


def test_a_txt_file_with_markdown_in_it_is_read_as_markdown():
    result = parse("list.txt", "## Ops\n\n- **Backups run**\n- Docs exist\n")

    assert result.format == "markdown"
    assert [(i.text, i.must_have) for i in result.checklist.sections[0].items] == [
        ("Backups run", True),
        ("Docs exist", False),
    ]


def test_plain_text_bullets_and_nested_bullets():
    result = parse(
        "plain.txt",
        "Launch list\n\n  • Backups run\n      ◦ nightly\n      ◦ weekly\n  • Docs exist\n"
        "  1. Numbered too\n",
    )

    assert result.format == "text"
    assert result.checklist.title == "Launch list"
    assert [(i.text, i.guidance) for i in result.checklist.sections[0].items] == [
        ("Backups run", "- nightly\n- weekly"),
        ("Docs exist", ""),
        ("Numbered too", ""),
    ]


def test_a_text_file_that_starts_with_a_bullet_is_titled_from_its_name():
    checklist = parse("launch-list.txt", "- Backups run\n- Docs exist\n").checklist

    assert checklist.title == "Launch list"
    assert checklist.sections[0].items[0].text == "Backups run"


# --- structured files ---------------------------------------------------------------------

STRUCTURED = {
    "title": "Launch readiness",
    "slug": "launch-readiness",
    "description": "What a service shows before launch.",
    "source": "Our playbook",
    "attribution": "Written by the platform team.",
    "signoff_roles": ["security_reviewer", "manager"],
    "sections": [
        {
            "title": "Operations",
            "items": [
                {
                    "ref": "health-check",
                    "text": "The service has a health check",
                    "must_have": True,
                    "guidance": "Return 200 when healthy.\n\n- check the database\n",
                    "checks": [{"key": "http.health", "params": {"max_ms": 500}}],
                },
                {"ref": "runbook", "text": "A runbook exists"},
            ],
        },
        {
            "title": "Security",
            "items": [
                {
                    "text": "TLS everywhere",
                    "must_have": True,
                    "checks": [
                        {"key": "tls.certificate", "params": {"min_days": 45}},
                        {"key": "http.https_redirect"},
                    ],
                }
            ],
        },
    ],
}

STRUCTURED_YAML = """\
title: Launch readiness
slug: launch-readiness
description: What a service shows before launch.
source: Our playbook
attribution: Written by the platform team.
signoff_roles: [security_reviewer, manager]
sections:
  - title: Operations
    items:
      - ref: health-check
        text: The service has a health check
        must_have: true
        guidance: |
          Return 200 when healthy.

          - check the database
        checks: [{key: http.health, params: {max_ms: 500}}]
      - ref: runbook
        text: A runbook exists
  - title: Security
    items:
      - text: TLS everywhere
        must_have: true
        checks:
          - key: tls.certificate
            params: {min_days: 45}
          - key: http.https_redirect
"""

EXPECTED_STRUCTURED_ITEMS = [
    (
        "Operations",
        "health-check",
        "The service has a health check",
        "Return 200 when healthy.\n\n- check the database",
        True,
        [{"key": "http.health", "params": {"max_ms": 500}}],
    ),
    ("Operations", "runbook", "A runbook exists", "", False, []),
    (
        "Security",
        "tls-everywhere",
        "TLS everywhere",
        "",
        True,
        [
            {"key": "tls.certificate", "params": {"min_days": 45}},
            {"key": "http.https_redirect", "params": {}},
        ],
    ),
]


def stored_items() -> list[tuple]:
    return [
        (i.section.title, i.ref, i.text, i.guidance, i.must_have, i.checks)
        for i in Item.objects.select_related("section").order_by("section__order", "order")
    ]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("launch.yaml", STRUCTURED_YAML),
        ("launch.yml", STRUCTURED_YAML),
        ("launch.json", json.dumps(STRUCTURED, indent=2)),
    ],
)
def test_a_structured_file_imports_exactly(tmp_path, name, text):
    path = write(tmp_path, name, text)

    out, err = import_file(path)

    assert out == "Launch readiness: v1 (draft) created: 2 sections, 3 items, 2 must-haves.\n"
    assert err == ""
    checklist = Checklist.objects.get()
    assert (checklist.slug, checklist.description, checklist.source, checklist.attribution) == (
        "launch-readiness",
        "What a service shows before launch.",
        "Our playbook",
        "Written by the platform team.",
    )
    version = checklist.versions.get()
    assert version.required_signoff_roles == ["manager", "security_reviewer"]
    assert stored_items() == EXPECTED_STRUCTURED_ITEMS


def test_yaml_and_json_of_the_same_checklist_have_the_same_content_hash():
    from_yaml = parse("a.yaml", STRUCTURED_YAML).checklist
    from_json = parse("a.json", json.dumps(STRUCTURED)).checklist

    assert from_yaml == from_json
    assert from_yaml.content_hash() == from_json.content_hash()


def test_a_check_param_that_is_not_json_is_a_clear_error(tmp_path):
    path = write(
        tmp_path,
        "dated.yaml",
        "title: T\nsections:\n  - title: S\n    items:\n      - text: a\n"
        "        checks: [{key: http.health, params: {since: 2024-01-01}}]\n",
    )

    with pytest.raises(CommandError, match=r"^dated\.yaml: .*params"):
        import_file(path)
    assert nothing_stored()


# --- bad input -----------------------------------------------------------------------------


def _yaml(items: str, roles: str = "[security_reviewer]") -> str:
    return f"title: T\nsignoff_roles: {roles}\nsections:\n  - title: S\n    items:\n{items}"


BILLION_LAUGHS = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "title: Laughs\nsections: [{title: S, items: [{text: '*d'}]}]\n"
)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
TOO_BIG = b"- item\n" * (MAX_FILE_BYTES // 7 + 1)
TOO_MANY = "## A\n" + "".join(f"- item {n}\n" for n in range(1001))
TOO_MANY += "## B\n" + "".join(f"- thing {n}\n" for n in range(1001))

BAD_FILES = [
    pytest.param("empty.md", b"", "The file is empty.", id="empty"),
    pytest.param("blank.yaml", b"  \n\t\n   \n", "The file is empty.", id="whitespace-only"),
    pytest.param(
        "nul.md",
        b"- item\x00\n",
        "The file is binary, not text. Upload Markdown, text, YAML or JSON.",
        id="nul-bytes",
    ),
    pytest.param("picture.md", PNG, "The file is binary, not text.", id="png"),
    pytest.param(
        "latin1.md",
        "- Café crème\n".encode("latin-1"),
        "The file is not UTF-8 text (undecodable byte at position 5).",
        id="invalid-utf8",
    ),
    pytest.param("huge.md", TOO_BIG, "The file is 1.0 MB; the limit is 1 MB.", id="over-1mb"),
    pytest.param(
        "prose.md",
        b"# Notes\n\nJust prose.\n\n## And a heading\n\nMore prose.\n",
        "No checklist items found: the file has no list items (- or 1.).",
        id="markdown-without-items",
    ),
    pytest.param(
        "prose.txt",
        b"Just a line\nAnother line\n",
        "No checklist items found: the file has no bulleted lines.",
        id="text-without-bullets",
    ),
    pytest.param(
        "broken.yaml",
        b"title: Launch\nsections:\n  - title: Ops\n     items: oops\n",
        "The YAML is broken at line 4, column 11: mapping values are not allowed here.",
        id="broken-yaml",
    ),
    pytest.param(
        "laughs.yaml",
        BILLION_LAUGHS.encode(),
        "YAML aliases (*name) are not allowed in checklist files.",
        id="yaml-aliases",
    ),
    pytest.param(
        "list.yaml",
        b"- title: A\n- title: B\n",
        "The file must hold one checklist: a mapping with title and sections.",
        id="yaml-list",
    ),
    pytest.param(
        "broken.json",
        b'{"title": "T", "sections": [}',
        "The JSON is broken at line 1, column 29: Expecting value.",
        id="broken-json",
    ),
    pytest.param(
        "checklist.docx",
        b"- item\n",
        "Unknown file type '.docx': use .md, .markdown, .txt, .yaml, .yml or .json.",
        id="unknown-extension",
    ),
    pytest.param(
        "real.docx",
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00",
        "The file is binary",
        id="docx-zip",
    ),
    pytest.param(
        "roles.yaml",
        _yaml("      - text: a\n", roles="[security_reviewer, ceo, admin]").encode(),
        "The checklist is not valid: signoff_roles: Value error, unknown sign-off role(s) "
        "admin, ceo; use product_lead, security_reviewer, manager, auditor",
        id="unknown-signoff-role",
    ),
    pytest.param(
        "noroles.yaml",
        _yaml("      - text: a\n", roles="[]").encode(),
        "signoff_roles: Value error, at least one sign-off role is required",
        id="no-signoff-roles",
    ),
    pytest.param(
        "dup.yaml",
        _yaml("      - {text: a, ref: backups}\n      - {text: b, ref: backups}\n").encode(),
        "The checklist is not valid: sections: Value error, item refs must be unique: "
        "backups repeated",
        id="duplicate-refs",
    ),
    pytest.param(
        "dup.md",
        b"## S\n\n- a {#same}\n\n## T\n\n- b {#same}\n",
        "item refs must be unique: same repeated",
        id="duplicate-markdown-refs",
    ),
    pytest.param(
        "long.yaml",
        _yaml("      - text: " + "x" * 2001 + "\n").encode(),
        "The checklist is not valid: sections.0.items.0.text: String should have at most "
        "2000 characters",
        id="item-text-over-2000",
    ),
    pytest.param(
        "many.md",
        TOO_MANY.encode(),
        "The checklist is not valid: sections: Value error, a checklist can have at most "
        "2000 items (2002 given)",
        id="over-2000-items",
    ),
    pytest.param(
        "key.yaml",
        _yaml("      - text: a\n        checks: [{key: HTTP Health}]\n").encode(),
        "The checklist is not valid: sections.0.items.0.checks.0.key: String should match pattern",
        id="bad-check-key",
    ),
    pytest.param(
        "extra.yaml",
        _yaml("      - text: a\n        colour: red\n").encode(),
        "sections.0.items.0.colour: Extra inputs are not permitted",
        id="unknown-field",
    ),
    pytest.param(
        "badref.yaml",
        _yaml("      - text: a\n        ref: Not A Ref\n").encode(),
        "sections.0.items.0.ref: String should match pattern",
        id="bad-ref",
    ),
    pytest.param(
        "notitle.json",
        b'{"sections": [{"title": "S", "items": [{"text": "a"}]}]}',
        "title: Field required",
        id="json-without-title",
    ),
]


@pytest.mark.parametrize(("name", "data", "message"), BAD_FILES)
def test_a_bad_file_is_refused_by_the_parser_with_a_clear_message(name, data, message):
    with pytest.raises(ImportFileError) as caught:
        parse_file(name, data)

    assert message in str(caught.value)
    assert nothing_stored()


@pytest.mark.parametrize(("name", "data", "message"), BAD_FILES)
def test_a_bad_file_is_refused_by_the_command_and_stores_nothing(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)

    with pytest.raises(CommandError) as caught:
        import_file(path)

    assert str(caught.value).startswith(f"{name}: ")
    assert message in str(caught.value)
    assert nothing_stored()


def test_the_command_refuses_a_missing_path(tmp_path):
    with pytest.raises(CommandError) as caught:
        import_file(tmp_path / "missing.md")

    assert str(caught.value) == f"Cannot read {tmp_path / 'missing.md'}: No such file or directory"
    assert nothing_stored()


def test_the_command_refuses_a_directory(tmp_path):
    with pytest.raises(CommandError, match="Is a directory"):
        import_file(tmp_path)
    assert nothing_stored()


def test_a_bad_file_does_not_touch_an_existing_checklist(tmp_path):
    good = write(tmp_path, "launch.md", "# Launch\n\n## Ops\n\n- Backups run\n")
    import_file(good)
    good.write_bytes(b"# Launch\n\n## Ops\n\nNo items any more.\n")

    with pytest.raises(CommandError, match="No checklist items found"):
        import_file(good)

    assert ChecklistVersion.objects.count() == 1
    assert list(Item.objects.values_list("text", flat=True)) == ["Backups run"]


@pytest.mark.parametrize(
    ("binding", "message"),
    [
        ("{key: http.healthz}", "Unknown check “http.healthz”"),
        ("{key: http.health, params: {url: x}}", "http.health takes no parameter “url”"),
        ("{key: http.health, params: {max_ms: fast}}", "“max_ms” must be int"),
    ],
)
def test_a_binding_to_an_unknown_check_or_parameter_is_a_clear_error(tmp_path, binding, message):
    path = write(
        tmp_path,
        "bound.yaml",
        "title: T\nsections:\n  - title: S\n    items:\n      - text: a\n"
        f"        checks: [{binding}]\n",
    )

    with pytest.raises(CommandError, match=message):
        import_file(path)
    assert nothing_stored()


def test_pipeline_checks_bind_under_any_ci_name(tmp_path):
    path = write(
        tmp_path,
        "ci.yaml",
        "title: T\nsections:\n  - title: S\n    items:\n      - text: a\n"
        "        checks: [{key: ci.load_test}]\n",
    )

    import_file(path)

    assert ChecklistVersion.objects.get().items.get().checks == [
        {"key": "ci.load_test", "params": {}}
    ]


def test_every_builtin_binding_names_a_check_with_valid_parameters(db):
    from reviews.checks.collectors.base import check_type

    call_command("load_builtin_checklists", stdout=io.StringIO())
    bindings = [
        (item.version.checklist.slug, binding)
        for item in Item.objects.select_related("version__checklist").exclude(checks=[])
        for binding in item.checks
    ]

    assert bindings
    for _, binding in bindings:
        check_type(binding["key"]).params(binding["params"])
    bound = {(slug, b["key"]) for slug, b in bindings}
    for key in ("aws.backup.plans", "aws.sqs.dlq_alarm", "aws.apigateway.authorizers"):
        assert ("hackney-production-deployment", key) in bound
    for key in ("pagerduty.on_call", "cloudfoundry.instances", "repo.lock_file"):
        assert ("18f-good-production-practices", key) in bound
