"""The backup archive's format: one ZIP with ``database.pgdump``, the evidence files
under their storage names, and ``manifest.json`` written last with the SHA-256 and size
of every other member (as an audit pack's manifest, ``reviews.record.manifest``).

Writing hashes each member as it streams in; reading extracts each member into a
directory, hashing as it goes, and refuses the archive, naming the member, unless every
one matches: nothing is restored from an archive that was altered, added to or cut.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from portal.zip_manifest import members_and_manifest

FORMAT = "Preflight backup, version 1"
MANIFEST = "manifest.json"
DUMP = "database.pgdump"
MEDIA_DIRS = ("evidence",)  # what of the default storage a backup holds
CHUNK = 1024 * 1024


class BackupProblem(Exception):
    """What stops a backup or a restore, in words an operator can act on."""


def _member_name_problem(name: str) -> str | None:
    """Why a member name is not one a backup writes, if it is not."""
    if name == DUMP:
        return None
    path = PurePosixPath(name)
    if (
        path.is_absolute()
        or "\\" in name
        or any(part in {"", ".", ".."} for part in name.split("/"))
        or path.parts[0] not in MEDIA_DIRS
        or len(path.parts) < 2
    ):
        return f"{name} is not a name a backup writes (outside {', '.join(MEDIA_DIRS)}/)"
    return None


@dataclass
class ArchiveWriter:
    """Writes members into the ZIP, hashing each as it goes."""

    archive: zipfile.ZipFile
    files: list[dict[str, Any]] = field(default_factory=list)

    def add(self, name: str, source: IO[bytes], *, compress: int) -> int:
        info = zipfile.ZipInfo(name, date_time=datetime.now(UTC).timetuple()[:6])
        info.compress_type = compress
        info.external_attr = 0o644 << 16
        digest, size = hashlib.sha256(), 0
        with self.archive.open(info, "w", force_zip64=True) as target:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                target.write(chunk)
        self.files.append({"path": name, "sha256": digest.hexdigest(), "size": size})
        return size


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _manifest_entries(manifest: Any) -> dict[str, tuple[str, int]]:
    """The manifest's members as ``{path: (sha256, size)}``, refusing anything malformed."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupProblem(f"This is not a Preflight backup ({MANIFEST} says another format).")
    files = manifest.get("files")
    if not isinstance(files, list):
        raise BackupProblem(f"{MANIFEST} has no list of files.")
    entries: dict[str, tuple[str, int]] = {}
    for number, entry in enumerate(files, start=1):
        path = entry.get("path") if isinstance(entry, dict) else None
        sha256 = entry.get("sha256") if isinstance(entry, dict) else None
        size = entry.get("size") if isinstance(entry, dict) else None
        if not isinstance(path, str) or not isinstance(sha256, str) or type(size) is not int:
            raise BackupProblem(f"{MANIFEST}: file entry {number} lacks a path, hash or size.")
        if problem := _member_name_problem(path):
            raise BackupProblem(f"{MANIFEST} lists a file a backup never holds: {problem}.")
        if path in entries:
            raise BackupProblem(f"{MANIFEST} lists {path} twice.")
        entries[path] = (sha256.lower(), size)
    if DUMP not in entries:
        raise BackupProblem(f"{MANIFEST} lists no {DUMP}.")
    return entries


def extract_verified(archive_path: Path, work: Path) -> dict[str, Any]:
    """Extract every member into ``work``, hashing it, and compare with the manifest.

    Nothing is restored from an archive until all of it matches: a member that was
    altered, added or removed is refused by name.
    """
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BackupProblem(f"{archive_path} is not a readable ZIP archive: {exc}.") from None
    with archive:
        members, manifest = members_and_manifest(
            archive,
            manifest=MANIFEST,
            noun="archive",
            problem=BackupProblem,
            not_ours=": it is not a Preflight backup",
        )
        names = [info.filename for info in members]
        entries = _manifest_entries(manifest)
        for info in members:
            name = info.filename
            if name == MANIFEST:
                continue
            if name not in entries:
                raise BackupProblem(
                    f"{name} is in the archive but not in its manifest (added after the backup)."
                )
            sha256, size = entries[name]
            target = work / name
            target.parent.mkdir(parents=True, exist_ok=True)
            digest, found = hashlib.sha256(), 0
            try:
                with archive.open(info) as source, target.open("wb") as copy:
                    while chunk := source.read(CHUNK):
                        digest.update(chunk)
                        found += len(chunk)
                        copy.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise BackupProblem(f"{name} is damaged: {exc}.") from None
            if found != size or digest.hexdigest() != sha256:
                raise BackupProblem(
                    f"{name} was altered: its {'size' if found != size else 'SHA-256'} "
                    f"differs from the manifest's. Nothing was restored."
                )
        for name in entries:
            if name not in names:
                raise BackupProblem(f"{name} is missing from the archive (its manifest lists it).")
    return dict(manifest)
