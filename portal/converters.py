"""The path converter for ids and numbers in URLs: ``<id:pk>``.

Django's ``<int:...>`` matches any number of digits, so a 20-digit id reaches the
database, which cannot hold it (SQLite raises). At most 18 digits always fits a 64-bit
integer; a longer number does not match, and the address is simply not found (404).
"""

from __future__ import annotations


class IdConverter:
    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)
