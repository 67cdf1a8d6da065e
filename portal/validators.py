"""The rules all stored text follows: no control characters, and web links over http(s).

Control characters (Unicode category Cc: C0, DEL and C1) are never meant in a name, a
link or a note; PostgreSQL cannot even store NUL in a text column. Every model's string
field carries ``single_line_text`` or ``multi_line_text`` (tests/test_input_validation.py
checks that) and every project form applies them (``portal.forms``). Long, multi-line
text may keep its line breaks and tabs; everything else is one line.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

# Category Cc is exactly U+0000 to U+001F and U+007F to U+009F.
_ANY_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINE_BREAKS_AND_TABS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

_NAMES = {"\n": "line break", "\r": "line break", "\t": "tab"}


def single_line_text(value: object) -> None:
    """Refuse any control character, line breaks and tabs included."""
    _refuse(value, _ANY_CONTROL)


def multi_line_text(value: object) -> None:
    """Refuse control characters other than line feed, carriage return and tab."""
    _refuse(value, _CONTROL_BUT_LINE_BREAKS_AND_TABS)


def _refuse(value: object, pattern: re.Pattern[str]) -> None:
    if not isinstance(value, str):
        return
    found = pattern.search(value)
    if found is None:
        return
    char = found.group()
    name = _NAMES.get(char, "control character")
    raise ValidationError(
        "Remove the %(name)s (%(code)s) from this field.",
        code="control_character",
        params={"name": name, "code": f"U+{ord(char):04X}"},
    )


def http_url(value: object) -> None:
    """Refuse addresses other than http:// and https:// (URLField alone also takes ftp)."""
    if isinstance(value, str) and value and not value.lower().startswith(("http://", "https://")):
        raise ValidationError("Use an http:// or https:// address.", code="http_url")


def without_control_characters(text: str) -> str:
    """``text`` with each control character replaced by U+FFFD.

    For records kept whatever arrived (a request header, a typed sign-in name in the
    audit trail), where refusing the input is not an option.
    """
    return _ANY_CONTROL.sub("\ufffd", text)
