"""No secrets in the repository: detect-secrets scans every tracked file, and anything it
finds must be in ``.secrets.baseline``, where each finding was looked at and marked as
no secret (test passwords, the demo's published password, setting names).

A new finding fails with its file and line. If it is a real secret, take it out (and
rotate it); if it is not, add it to the baseline with
``detect-secrets scan --baseline .secrets.baseline $(git ls-files)`` and mark it with
``detect-secrets audit .secrets.baseline``. Findings are matched by file and hashed
value, not line, so moving code around does not disturb the baseline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
BASELINE = BASE_DIR / ".secrets.baseline"


def tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=BASE_DIR, capture_output=True, check=True, timeout=30
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (BASE_DIR / name).is_file()]


def findings(report: dict[str, list[dict[str, object]]]) -> set[tuple[str, str]]:
    return {
        (filename, str(found["hashed_secret"]))
        for filename, found_in_file in report.items()
        for found in found_in_file
    }


def test_every_secret_like_string_in_the_repository_is_a_known_non_secret():
    files = tracked_files()
    assert ".secrets.baseline" in files and "portal/settings.py" in files
    files.remove(".secrets.baseline")  # its hashes look like secrets
    scan = subprocess.run(
        [Path(sys.executable).parent / "detect-secrets", "scan", *files],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(scan.stdout)["results"]
    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))["results"]
    assert all(
        found.get("is_secret") is False for in_file in baseline.values() for found in in_file
    ), "every finding in .secrets.baseline has been looked at and marked as no secret"
    new = findings(report) - findings(baseline)
    where = sorted(
        f"{filename}:{found['line_number']} ({found['type']})"
        for filename, found_in_file in report.items()
        for found in found_in_file
        if (filename, str(found["hashed_secret"])) in new
    )
    assert not where, f"secret-like strings that are not in .secrets.baseline: {where}"


def test_a_new_secret_would_be_found(tmp_path):
    """The scanner really looks: a private key and an AWS key in a new file are found."""
    planted = tmp_path / "leak.py"
    # Built from parts, so this file itself holds no such string.
    aws_key = "AKIA" + "Z7XQ3NP2LM5RT4WV"
    private_key = "-----BEGIN RSA " + "PRIVATE KEY-----"
    planted.write_text(
        f'AWS_ACCESS_KEY_ID = "{aws_key}"\nKEY = """{private_key}\nMIIEpAIBAAKCAQEA7\n"""\n',
        encoding="utf-8",
    )
    scan = subprocess.run(
        [Path(sys.executable).parent / "detect-secrets", "scan", planted.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = {item["type"] for item in json.loads(scan.stdout)["results"][planted.name]}
    assert {"AWS Access Key", "Private Key"} <= found, found
