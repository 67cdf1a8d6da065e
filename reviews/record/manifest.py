"""An audit pack's manifest: every file with its SHA-256 and size, written as the pack is
built and checked offline by ``manage.py verify_pack``.

Standard library only, and no database: a pack must be checkable on any machine with
the portal's code, long after the export, without access to the record it came from.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO, Any

from portal.zip_manifest import members_and_manifest

MANIFEST = "manifest.json"
FORMAT = "Preflight audit pack, version 1"
CHUNK = 1024 * 1024


class PackProblem(Exception):
    """What is wrong with a pack, in words, naming the file."""


@dataclass
class PackWriter:
    """Writes files into a ZIP, hashing each as it goes, then the manifest last."""

    archive: zipfile.ZipFile
    entries: list[dict[str, Any]] = field(default_factory=list)

    def add(self, path: str, content: bytes) -> None:
        self.add_chunks(path, [content])

    def add_chunks(self, path: str, chunks: Iterable[bytes]) -> None:
        digest, size = hashlib.sha256(), 0
        with self.archive.open(path, "w", force_zip64=True) as target:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                target.write(chunk)
        self.entries.append({"path": path, "sha256": digest.hexdigest(), "size": size})

    def finish(self, facts: dict[str, Any]) -> None:
        """Write the manifest: ``facts`` (the moment, the review, who exported it...) and
        the files written so far."""
        manifest = {"format": FORMAT, **facts, "files": self.entries}
        self.archive.writestr(MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))


def _entries(manifest: Any) -> list[tuple[str, str, int]]:
    """The manifest's files as (path, sha256, size), refusing anything malformed."""
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, list):
        raise PackProblem(f"{MANIFEST} has no list of files.")
    seen: set[str] = set()
    entries = []
    for number, entry in enumerate(files, start=1):
        path = entry.get("path") if isinstance(entry, dict) else None
        sha256 = entry.get("sha256") if isinstance(entry, dict) else None
        size = entry.get("size") if isinstance(entry, dict) else None
        if not isinstance(path, str) or not isinstance(sha256, str) or type(size) is not int:
            raise PackProblem(f"{MANIFEST}: file entry {number} lacks a path, hash or size.")
        if path in seen:
            raise PackProblem(f"{MANIFEST} lists {path} twice.")
        seen.add(path)
        entries.append((path, sha256.lower(), size))
    return entries


def _hash_member(archive: zipfile.ZipFile, path: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with archive.open(path) as member:
        while chunk := member.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def verify(pack: str | IO[bytes]) -> int:
    """Check a pack against its manifest; returns how many files it holds.

    Raises PackProblem naming the first problem: not a ZIP, no or unreadable manifest,
    a listed file missing, a file whose size or SHA-256 differs, or a file the manifest
    does not list.
    """
    try:
        archive = zipfile.ZipFile(pack)
    except (zipfile.BadZipFile, OSError) as exc:
        raise PackProblem(f"Not a readable ZIP file: {exc}.") from None
    with archive:
        infos, manifest = members_and_manifest(
            archive, manifest=MANIFEST, noun="pack", problem=PackProblem
        )
        members = [info.filename for info in infos]
        entries = _entries(manifest)
        present = set(members)
        for path, sha256, size in entries:
            if path == MANIFEST or PurePosixPath(path).is_absolute() or ".." in path.split("/"):
                raise PackProblem(f"{MANIFEST} lists a file outside the pack: {path}.")
            if path not in present:
                raise PackProblem(f"Missing from the pack: {path} (listed in the manifest).")
            try:
                found_sha256, found_size = _hash_member(archive, path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise PackProblem(f"{path} is damaged: {exc}.") from None
            if found_size != size:
                raise PackProblem(
                    f"{path} was altered: {found_size} bytes, the manifest says {size}."
                )
            if found_sha256 != sha256:
                raise PackProblem(f"{path} was altered: its SHA-256 differs from the manifest's.")
        listed = {path for path, _, _ in entries}
        for name in members:
            if name != MANIFEST and name not in listed:
                raise PackProblem(f"Not in the manifest: {name} (added to the pack).")
    return len(entries)
