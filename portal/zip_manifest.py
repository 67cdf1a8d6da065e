"""ZIP archives that list their own files in a JSON manifest (backups, audit packs): the
checks every reader makes before it looks at what the manifest says."""

from __future__ import annotations

import json
import zipfile
from typing import Any


def members_and_manifest(
    archive: zipfile.ZipFile,
    *,
    manifest: str,
    noun: str,
    problem: type[Exception],
    not_ours: str = "",
) -> tuple[list[zipfile.ZipInfo], Any]:
    """The archive's files (not its directories) and its parsed manifest.

    Raises ``problem`` for a file held twice, no ``manifest`` (``not_ours`` says what that
    means) or a manifest that is not JSON. ``noun`` names the archive in the messages.
    """
    members = [info for info in archive.infolist() if not info.is_dir()]
    names = [info.filename for info in members]
    if len(names) != len(set(names)):
        duplicate = next(name for name in names if names.count(name) > 1)
        raise problem(f"The {noun} holds {duplicate} more than once.")
    if manifest not in names:
        raise problem(f"The {noun} has no {manifest}{not_ours}.")
    try:
        parsed = json.loads(archive.read(manifest))
    except (ValueError, zipfile.BadZipFile) as exc:
        raise problem(f"{manifest} is not readable JSON: {exc}.") from None
    return members, parsed
