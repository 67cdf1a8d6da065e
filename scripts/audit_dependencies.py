"""Known vulnerabilities in the locked packages, for `make audit` (part of `make test`).

Exports every group of ``uv.lock`` with hashes (what `make test` installs, which includes
all that production runs) and runs pip-audit over it, without pip: the pins are exact, so
nothing is resolved or downloaded. The services are asked in turn (``--service
pypi,osv``) until one answers. Exits:

- 0 with ``pip-audit: no known vulnerabilities in N locked packages`` when the data was
  read and nothing is affected (ignored ones are listed with their reasons);
- 1 naming each package, version, vulnerability id and fix when something is affected;
- 0 with ``pip-audit skipped: vulnerability data unreachable (...)`` when no service can
  be asked: no connection, no answer within ``--timeout`` seconds in all, or an answer
  that knows none of the packages (a PyPI mirror without the per-release JSON pip-audit
  reads answers 404 for every one, which pip-audit alone reports as a pass);
- 2 when pip-audit fails for any other reason (a service answering 500, say), with its
  error: a broken audit must not pass for a clean one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
SKIP = "pip-audit skipped: vulnerability data unreachable"

# Vulnerabilities we know about and accept, each with the reason it does not apply or
# cannot be fixed yet (pip-audit's --ignore-vuln). Take an entry out once a fix is pinned.
IGNORED_VULNS: dict[str, str] = {}

# The last line of pip-audit's traceback when it could not talk to the service at all.
_NETWORK_ERROR = re.compile(
    r"(ConnectionError|ConnectTimeout|ReadTimeout|ProxyError|SSLError|Timeout|"
    r"MaxRetryError|NameResolutionError|Could not connect)",
)


@dataclass(frozen=True)
class Answer:
    """What one service said: a report, or why there is none (unreachable or failed)."""

    service: str
    report: dict[str, Any] | None = None
    unreachable: str = ""
    failed: str = ""


def _uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    return found or str(BASE_DIR / ".tools" / "bin" / "uv")


def export_requirements(target: Path) -> None:
    """Every package ``uv.lock`` pins for this platform, every group, with hashes."""
    subprocess.run(  # noqa: S603 (uv, with fixed arguments, no shell)
        [
            _uv(),
            "export",
            "--frozen",
            "--all-groups",
            "--no-emit-project",
            "--no-header",
            "--no-annotate",
            "--quiet",
            "--output-file",
            str(target),
        ],
        cwd=BASE_DIR,
        check=True,
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def ask(requirements: Path, *, service: str, osv_url: str | None, timeout: float) -> Answer:
    """Run pip-audit against one vulnerability service, for at most ``timeout`` seconds."""
    with tempfile.TemporaryDirectory(prefix="pip-audit-") as scratch:
        report = Path(scratch) / "report.json"
        command = [
            sys.executable,
            "-m",
            "pip_audit",
            "--requirement",
            str(requirements),
            "--require-hashes",
            "--disable-pip",
            "--vulnerability-service",
            service,
            "--format",
            "json",
            "--output",
            str(report),
            "--progress-spinner",
            "off",
            # Per request; the whole run is bounded by ``timeout`` below.
            "--timeout",
            str(max(1, min(15, int(timeout)))),
        ]
        if osv_url and service == "osv":
            command += ["--osv-url", osv_url]
        for vuln_id in IGNORED_VULNS:
            command += ["--ignore-vuln", vuln_id]
        try:
            done = subprocess.run(  # noqa: S603 (this interpreter's pip-audit, no shell)
                command, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return Answer(service, unreachable=f"no answer within {timeout:.0f} s")
        if report.exists() and report.stat().st_size:
            found: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
            dependencies = found.get("dependencies", [])
            if dependencies and all(d.get("skip_reason") for d in dependencies):
                return Answer(
                    service,
                    unreachable=f"knows none of the {len(dependencies)} packages, e.g. "
                    f"{dependencies[0]['skip_reason']}",
                )
            return Answer(service, report=found)
    error = _last_line(done.stderr)
    if done.returncode != 0 and _NETWORK_ERROR.search(error):
        return Answer(service, unreachable=error)
    return Answer(service, failed=f"exit {done.returncode}: {error}\n{done.stderr[-3000:]}")


def report(answer: Answer) -> int:
    """Print what the service found; 1 when a locked package is affected."""
    assert answer.report is not None
    dependencies: list[dict[str, Any]] = answer.report.get("dependencies", [])
    audited = [d for d in dependencies if not d.get("skip_reason")]
    unaudited = [d["name"] for d in dependencies if d.get("skip_reason")]
    for vuln_id, reason in IGNORED_VULNS.items():
        print(f"pip-audit: ignoring {vuln_id}: {reason}")
    if unaudited:
        print(
            f"pip-audit: {len(unaudited)} packages could not be looked up: {', '.join(unaudited)}"
        )
    affected = [(d, vuln) for d in audited for vuln in d.get("vulns", [])]
    if not affected:
        print(
            f"pip-audit: no known vulnerabilities in {len(audited)} locked packages "
            f"({answer.service})"
        )
        return 0
    print(f"pip-audit found {len(affected)} known vulnerabilities in the locked packages:")
    for dependency, vuln in affected:
        aliases = [a for a in vuln.get("aliases", []) if a != vuln["id"]]
        named = vuln["id"] + (f" ({', '.join(aliases)})" if aliases else "")
        fixes = ", ".join(vuln.get("fix_versions", [])) or "no fixed release yet"
        print(f"  {dependency['name']} {dependency['version']}: {named}; fixed in {fixes}")
    print(
        "Upgrade the pin (pyproject.toml, then `uv lock`), or ignore it with a reason in "
        "IGNORED_VULNS (scripts/audit_dependencies.py)."
    )
    return 1


def audit(requirements: Path, *, services: list[str], osv_url: str | None, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    reasons = []
    for service in services:
        left = deadline - time.monotonic()
        if left < 1:
            reasons.append(f"{service}: not asked, the {timeout:.0f} s were spent")
            continue
        answer = ask(requirements, service=service, osv_url=osv_url, timeout=left)
        if answer.report is not None:
            return report(answer)
        if answer.failed:
            print(f"pip-audit failed ({service}): {answer.failed}", file=sys.stderr)
            return 2
        reasons.append(f"{service}: {answer.unreachable}")
    print(f"{SKIP} ({'; '.join(reasons)})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--requirements",
        type=Path,
        help="audit this hashed requirements file instead of the export of uv.lock",
    )
    parser.add_argument(
        "--service",
        default="pypi,osv",
        help="the vulnerability services to ask in turn, comma-separated (default pypi,osv)",
    )
    parser.add_argument("--osv-url", help="the OSV query URL (instead of api.osv.dev)")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds for the whole run (default 120)"
    )
    args = parser.parse_args(argv)
    services = [name.strip() for name in args.service.split(",") if name.strip()]
    unknown = set(services) - {"pypi", "osv"}
    if not services or unknown:
        parser.error(f"--service takes pypi and osv, not {', '.join(sorted(unknown)) or '-'}")
    if args.requirements is not None:
        return audit(
            args.requirements, services=services, osv_url=args.osv_url, timeout=args.timeout
        )
    with tempfile.TemporaryDirectory(prefix="preflight-audit-") as scratch:
        requirements = Path(scratch) / "requirements.txt"
        export_requirements(requirements)
        return audit(requirements, services=services, osv_url=args.osv_url, timeout=args.timeout)


if __name__ == "__main__":
    sys.exit(main())
