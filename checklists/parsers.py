"""Reading checklist files: Markdown, plain text, YAML and JSON into a ParsedChecklist.

Every reader raises ``ImportFileError`` with a message a person can act on; nothing is
saved here. Text is repaired first (ftfy), because seed documents have been through
tools that decoded UTF-8 as Mac Roman ("I‚Äôm" for "I’m").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import ftfy
import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token
from pydantic import ValidationError

from checklists.schema import ParsedChecklist, slug_for

MAX_FILE_BYTES = 1024 * 1024
FORMATS = ("markdown", "text", "yaml", "json")
_EXTENSIONS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
}


class ImportFileError(ValueError):
    """The file cannot become a checklist; the message says why."""


@dataclass
class ParseResult:
    checklist: ParsedChecklist
    format: str
    warnings: list[str] = field(default_factory=list)


def parse_file(name: str, data: bytes) -> ParseResult:
    """Read an uploaded or on-disk checklist file. Raises ImportFileError."""
    if not data.strip():
        raise ImportFileError("The file is empty.")
    if len(data) > MAX_FILE_BYTES:
        raise ImportFileError(
            f"The file is {len(data) / 1024 / 1024:.1f} MB; the limit is "
            f"{MAX_FILE_BYTES // 1024 // 1024} MB."
        )
    if b"\x00" in data:
        raise ImportFileError("The file is binary, not text. Upload Markdown, text, YAML or JSON.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"The file is not UTF-8 text (undecodable byte at position {exc.start})."
        ) from None
    warnings: list[str] = []
    text, repaired = repair_text(text)
    if repaired:
        warnings.append(f"Repaired mis-encoded characters on {repaired} line(s).")
    kind = _EXTENSIONS.get(PurePath(name).suffix.lower())
    if kind is None:
        raise ImportFileError(
            f"Unknown file type {PurePath(name).suffix or '(none)'!r}: "
            "use .md, .markdown, .txt, .yaml, .yml or .json."
        )
    fallback_title = PurePath(name).stem.replace("-", " ").replace("_", " ").strip().capitalize()
    if kind == "text" and _looks_like_markdown(text):
        kind = "markdown"
    if kind == "markdown":
        raw, more = read_markdown(text, fallback_title)
    elif kind == "text":
        raw, more = read_plain_text(text, fallback_title)
    else:
        raw, more = read_structured(text, kind), []
    warnings.extend(more)
    return ParseResult(checklist=validate(raw), format=kind, warnings=warnings)


def validate(raw: dict[str, Any]) -> ParsedChecklist:
    try:
        return ParsedChecklist.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors()[:10]:
            where = ".".join(str(part) for part in error["loc"]) or "file"
            problems.append(f"{where}: {error['msg']}")
        raise ImportFileError("The checklist is not valid: " + "; ".join(problems)) from None


# --- repairing text ------------------------------------------------------------------

# Mac Roman renders UTF-8's four-byte lead F0 as the Apple logo (U+F8FF), which many
# tools drop; what is left of an emoji is three characters ftfy cannot place.
_ORPHAN_EMOJI = re.compile(
    "\uf8ff?[\u00e0-\u00ff\u0152\u0153\u0178\u2020-\u2122][\u0080-\u2122]{2}"
)


def _orphan_emoji(chars: str) -> str | None:
    try:
        raw = chars.lstrip("\uf8ff").encode("mac_roman")
    except UnicodeEncodeError:
        return None
    if not 0x90 <= raw[0] <= 0xBF:
        return None
    try:
        restored = (b"\xf0" + raw).decode("utf-8")
    except UnicodeDecodeError:
        return None
    # Only emoji and pictographs: three accented letters in a row are left alone.
    return restored if 0x1F000 <= ord(restored) <= 0x1FAFF else None


# Repair encodings only: keep curly quotes, HTML entities and full-width characters.
_REPAIR = ftfy.TextFixerConfig(
    uncurl_quotes=False, fix_line_breaks=False, unescape_html=False, fix_character_width=False
)


def _repair_line(line: str) -> str:
    """ftfy on the text between mis-encoded emoji: a real emoji stops ftfy fixing a line."""
    pieces, last = [], 0
    for match in _ORPHAN_EMOJI.finditer(line):
        emoji = _orphan_emoji(match.group(0))
        if emoji is None:
            continue
        pieces += [ftfy.fix_text(line[last : match.start()], _REPAIR), emoji]
        last = match.end()
    pieces.append(ftfy.fix_text(line[last:], _REPAIR))
    return "".join(pieces)


def repair_text(text: str) -> tuple[str, int]:
    """Fix mojibake line by line; returns the text and how many lines changed."""
    changed = 0
    lines = []
    for line in text.split("\n"):
        fixed = line
        if not line.isascii():
            fixed = _repair_line(line)
        changed += fixed != line
        lines.append(fixed)
    return "\n".join(lines), changed


# --- Markdown ----------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_EXPLICIT_REF = re.compile(r"\s*\{#([a-z0-9][a-z0-9-]{0,79})\}\s*$")
_MUST_HAVE_LABEL = re.compile(r"^must[- ]have\s*:\s*", re.IGNORECASE)
_MD = MarkdownIt("commonmark", {"html": False})


def _looks_like_markdown(text: str) -> bool:
    return bool(re.search(r"^#{1,6} \S", text, re.MULTILINE) or "**" in text)


def _inline_text(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def _starts_bold(token: Token) -> bool:
    meaningful = [
        c for c in token.children or [] if not (c.type == "text" and not c.content.strip())
    ]
    return bool(meaningful) and meaningful[0].type == "strong_open"


def _all_bold(token: Token) -> bool:
    children = [c for c in token.children or [] if not (c.type == "text" and not c.content.strip())]
    return (
        len(children) >= 3
        and children[0].type == "strong_open"
        and children[-1].type == "strong_close"
    )


def _front_matter(text: str, warnings: list[str]) -> tuple[dict[str, Any], str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        data = safe_yaml(match.group(1))
    except ImportFileError as exc:
        warnings.append(f"Front matter ignored: {exc}")
        data = {}
    return (data if isinstance(data, dict) else {}), text[match.end() :]


def read_markdown(text: str, fallback_title: str) -> tuple[dict[str, Any], list[str]]:
    """Headings (or whole-bold short paragraphs) are sections, list items are items.

    An item is a must-have when it starts in bold (wholly bold, or a leading bold
    phrase such as "**Must-have:**"). Nested lists and further paragraphs of an item
    become its guidance. ``{#ref}`` at the end of an item fixes its reference id.
    """
    warnings: list[str] = []
    meta, body = _front_matter(text, warnings)
    lines = body.split("\n")
    tokens = _MD.parse(body)
    title = str(meta.get("title") or "").strip()
    sections: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    empty_sections: list[str] = []

    def open_section(name: str) -> None:
        nonlocal current
        if current is not None and not current["items"]:
            empty_sections.append(current["title"])
        current = {"title": name, "items": []}
        sections.append(current)

    i = 0
    depth = 0  # list nesting
    first_block = True
    while i < len(tokens):
        token = tokens[i]
        if token.type == "heading_open" and depth == 0:
            heading = _inline_text(tokens[i + 1])
            if first_block and not title and token.tag == "h1":
                title = heading
            else:
                open_section(heading)
            i += 3
            first_block = False
            continue
        first_block = False
        if token.type == "paragraph_open" and depth == 0:
            inline = tokens[i + 1]
            heading = _inline_text(inline)
            if _all_bold(inline) and len(heading) <= 80 and not heading.endswith((".", ":")):
                open_section(heading)
            i += 3
            continue
        if token.type in ("bullet_list_open", "ordered_list_open"):
            if depth == 0:
                if current is None:
                    open_section("General")
                i = _read_list(tokens, i, lines, current["items"])  # type: ignore[index]
                continue
            depth += 1
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
        i += 1

    if current is not None and not current["items"]:
        empty_sections.append(current["title"])
    sections = [section for section in sections if section["items"]]
    if not sections:
        raise ImportFileError("No checklist items found: the file has no list items (- or 1.).")
    if empty_sections:
        names = ", ".join(f"“{name}”" for name in empty_sections[:8])
        more = f" and {len(empty_sections) - 8} more" if len(empty_sections) > 8 else ""
        warnings.append(
            f"{len(empty_sections)} heading(s) without list items were left out: {names}{more}."
        )
    warnings.extend(_apply_check_bindings(meta.get("checks"), sections))
    if not any(item["must_have"] for section in sections for item in section["items"]):
        warnings.append("No must-haves were found (no item starts in bold).")
    raw = {
        key: meta[key] for key in ("slug", "description", "source", "attribution") if key in meta
    }
    if "signoff_roles" in meta:
        raw["signoff_roles"] = meta["signoff_roles"]
    raw["title"] = title or fallback_title
    raw["sections"] = sections
    return raw, warnings


def _apply_check_bindings(bindings: Any, sections: list[dict[str, Any]]) -> list[str]:
    """Front matter ``checks: {ref: [key, {key: k, params: {...}}]}`` binds automated checks
    to items by reference id (explicit, or the one derived from the item's text)."""
    if not bindings:
        return []
    if not isinstance(bindings, dict):
        raise ImportFileError("Front matter “checks” must map item refs to lists of checks.")
    by_ref = {}
    for section in sections:
        for item in section["items"]:
            by_ref[item.get("ref") or slug_for(item["text"])] = item
    warnings = []
    for ref, checks in bindings.items():
        item = by_ref.get(str(ref))
        if item is None:
            warnings.append(f"Front matter binds checks to “{ref}”, which no item has.")
            continue
        if not isinstance(checks, list):
            raise ImportFileError(f"Front matter “checks” for “{ref}” must be a list.")
        item["checks"] = [c if isinstance(c, dict) else {"key": c} for c in checks]
    return warnings


def _read_list(
    tokens: list[Token], start: int, lines: list[str], items: list[dict[str, Any]]
) -> int:
    """Read one top-level list starting at tokens[start]; returns the index after it."""
    close_type = tokens[start].type.replace("_open", "_close")
    level = tokens[start].level
    i = start + 1
    while not (tokens[i].type == close_type and tokens[i].level == level):
        token = tokens[i]
        if token.type == "list_item_open" and token.level == level + 1:
            end = i + 1
            while not (tokens[end].type == "list_item_close" and tokens[end].level == token.level):
                end += 1
            items.append(_read_item(tokens[i + 1 : end], lines))
            i = end
        i += 1
    return i + 1


def _read_item(tokens: list[Token], lines: list[str]) -> dict[str, Any]:
    inline = next((t for t in tokens if t.type == "inline"), None)
    text = _inline_text(inline) if inline is not None else ""
    must_have = inline is not None and _starts_bold(inline)
    if must_have:
        text = _MUST_HAVE_LABEL.sub("", text)
    ref = None
    if match := _EXPLICIT_REF.search(text):
        ref = match.group(1)
        text = text[: match.start()]
    # Guidance: the item's source lines after its first paragraph, dedented.
    first_block_end = next((t.map[1] for t in tokens if t.map is not None), None)
    item_end = max((t.map[1] for t in tokens if t.map is not None), default=None)
    guidance = ""
    if first_block_end is not None and item_end is not None and item_end > first_block_end:
        block = [line for line in lines[first_block_end:item_end]]
        guidance = _dedent(block).strip()
    item: dict[str, Any] = {"text": text, "must_have": must_have, "guidance": guidance}
    if ref:
        item["ref"] = ref
    return item


def _dedent(block: list[str]) -> str:
    indents = [len(line) - len(line.lstrip()) for line in block if line.strip()]
    cut = min(indents, default=0)
    return "\n".join(line[cut:] for line in block)


# --- plain text ----------------------------------------------------------------------------

_BULLET = re.compile(r"^(?P<indent>\s*)(?:[•\-*‣◦▪●]|\d+[.)])\s+(?P<text>\S.*)$")


def read_plain_text(text: str, fallback_title: str) -> tuple[dict[str, Any], list[str]]:
    """Bulleted lines become items in one section; deeper bullets become guidance."""
    lines = [line.rstrip() for line in text.split("\n")]
    first = next((line for line in lines if line.strip()), "")
    title = first.strip() if first and not _BULLET.match(first) else fallback_title
    items: list[dict[str, Any]] = []
    top_indent: int | None = None
    for line in lines:
        match = _BULLET.match(line)
        if not match:
            continue
        indent = len(match.group("indent").expandtabs(4))
        if top_indent is None:
            top_indent = indent
        if indent > top_indent and items:
            guidance = items[-1]["guidance"]
            items[-1]["guidance"] = (guidance + "\n" if guidance else "") + f"- {match['text']}"
        else:
            items.append({"text": match.group("text").strip(), "guidance": ""})
    if not items:
        raise ImportFileError("No checklist items found: the file has no bulleted lines.")
    warnings = [
        f"No sections or must-haves were found (the file has no headings and no bold text): "
        f"all {len(items)} items are in one section and none is a must-have. "
        "Review them before publishing."
    ]
    return {"title": title[:300], "sections": [{"title": "Items", "items": items}]}, warnings


# --- YAML and JSON ---------------------------------------------------------------------------


def safe_yaml(text: str) -> Any:
    """yaml.safe_load without aliases, which can blow a small file up to a huge structure."""
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise ImportFileError("YAML aliases (*name) are not allowed in checklist files.")
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ImportFileError(f"The YAML is broken{where}: {exc.problem}.") from None
    except yaml.YAMLError as exc:
        raise ImportFileError(f"The YAML is broken: {exc}.") from None


def read_structured(text: str, kind: str) -> dict[str, Any]:
    if kind == "yaml":
        data = safe_yaml(text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportFileError(
                f"The JSON is broken at line {exc.lineno}, column {exc.colno}: {exc.msg}."
            ) from None
    if not isinstance(data, dict):
        raise ImportFileError(
            "The file must hold one checklist: a mapping with title and sections."
        )
    return data
