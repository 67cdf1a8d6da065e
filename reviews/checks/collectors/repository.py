"""Repository checks: a dependency lock file and infrastructure as code are committed.

The service's repository is read with ``git`` (a shallow, blob-less clone of the default
branch's file list) under a time limit; only the protocols in CHECK_GIT_PROTOCOLS are
allowed, so a repository URL cannot make git run commands (``ext::``) or read files, and
git connects only where the egress policy allows (``reviews.checks.collectors.egress``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import tempfile
from collections.abc import Sequence
from fnmatch import fnmatch
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from reviews.checks.collectors.base import (
    CheckContext,
    CheckError,
    CheckType,
    Outcome,
    Target,
    register,
)
from reviews.checks.collectors.egress import EgressPolicy

# Manifest -> the lock files that pin it.
LOCKS = {
    "pyproject.toml": ("uv.lock", "poetry.lock", "pdm.lock", "requirements*.txt"),
    "Pipfile": ("Pipfile.lock",),
    "package.json": ("package-lock.json", "yarn.lock", "pnpm-lock.yaml", "npm-shrinkwrap.json"),
    "Gemfile": ("Gemfile.lock",),
    "go.mod": ("go.sum",),
    "Cargo.toml": ("Cargo.lock",),
    "composer.json": ("composer.lock",),
}


async def _run_git(*args: str, cwd: str, timeout: float, config: Sequence[str] = ()) -> str:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": cwd,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_ALLOW_PROTOCOL": ":".join(settings.CHECK_GIT_PROTOCOLS),
    }
    options = [part for setting in config for part in ("-c", setting)]
    process = await asyncio.create_subprocess_exec(
        "git", *options, *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise CheckError(f"git did not answer within {timeout:g} s.") from None
    if process.returncode != 0:
        reason = err.decode(errors="replace").strip().splitlines()[-1:] or ["unknown error"]
        raise CheckError(f"git could not read the repository: {reason[0][:300]}")
    return out.decode(errors="replace")


_SCP_LIKE = re.compile(r"^(?:[^@/\s]+@)?(?P<host>\[[^\]]+\]|[^:/\s]+):(?!//)")


def _host_and_port(url: str) -> tuple[str, int | None, str]:
    """The host, port and scheme git would connect to ("" for local paths and file://)."""
    match = _SCP_LIKE.match(url)
    if "://" not in url and match:  # user@host:path is ssh
        return match["host"].strip("[]"), 22, "ssh"
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise CheckError("The repository URL has an invalid port.") from None
    default = {"https": 443, "http": 80, "ssh": 22, "git": 9418}.get(parts.scheme)
    return parts.hostname or "", port or default, parts.scheme


def repository_address(value: object) -> None:
    """A repository address git may read: a URL whose protocol ``CHECK_GIT_PROTOCOLS``
    allows (https by default), or ``user@host:path`` when ssh is allowed. Validates the
    service's repository field, so what is stored is what the check can use."""
    if not isinstance(value, str) or not value:
        return
    allowed = list(settings.CHECK_GIT_PROTOCOLS)
    problem = ValidationError(
        f"Use an address git can read over {', '.join(allowed)}, e.g. https://github.com/org/repo.",
        code="repository_address",
    )
    if value.startswith("-") or any(ch.isspace() for ch in value):
        raise problem
    try:
        host, _port, scheme = _host_and_port(value)
    except CheckError:
        raise problem from None
    if scheme not in allowed:
        raise problem
    if scheme in ("http", "https"):
        URLValidator(schemes=["http", "https"], message=problem.message)(value)
        if urlsplit(value).password is not None:
            # A password in the address would be shown on every page and in the API.
            raise ValidationError(
                "Leave the password out of the repository address: it would be shown to "
                "every reader.",
                code="repository_address",
            )
    elif scheme == "file":
        if not urlsplit(value).path.startswith("/"):
            raise problem
    elif not host:
        raise problem


async def _egress_config(url: str, egress: EgressPolicy, timeout: float) -> list[str]:
    """git settings that keep it to addresses the egress policy allows.

    Over http(s), curl is told the judged addresses (``http.curloptResolve``), so git
    never resolves the name again, and redirects are not followed (they would reach
    hosts nobody judged). Over ssh and git://, which an operator must enable, the name
    is judged but git resolves it again itself.
    """
    host, port, scheme = _host_and_port(url)
    if not host or port is None:
        return []  # a local path or file://: only an operator can enable those
    addresses = await egress.resolve(host, port, timeout)
    if scheme not in ("http", "https"):
        return []
    config = ["http.followRedirects=false"]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        listed = ",".join(f"[{a}]" if ":" in a else a for a in addresses)
        config.append(f"http.curloptResolve={host}:{port}:{listed}")
    return config


async def repository_files(url: str, timeout: float, egress: EgressPolicy) -> list[str]:
    """The paths in the default branch of the repository at ``url``."""
    config = await _egress_config(url, egress, timeout)
    with tempfile.TemporaryDirectory(prefix="preflight-repo-") as work:
        clone = ("clone", "--quiet", "--depth", "1", "--filter=blob:none", "--no-checkout")
        await _run_git(*clone, "--", url, "repo", cwd=work, timeout=timeout, config=config)
        listing = await _run_git(
            "ls-tree", "-r", "--name-only", "HEAD", cwd=os.path.join(work, "repo"), timeout=timeout
        )
    return [line for line in listing.splitlines() if line]


def _names(files: list[str]) -> set[str]:
    return {path.rsplit("/", 1)[-1] for path in files}


class RepositoryCheck(CheckType):
    family = "Repository"
    reads = ("repository_url",)

    async def files(self, target: Target, ctx: CheckContext) -> list[str] | None:
        url = target.repository_url
        if not url:
            return None
        return await repository_files(url, ctx.timeout, ctx.egress)


@register
class LockFileCheck(RepositoryCheck):
    key = "repo.lock_file"
    title = "Dependencies are pinned by a committed lock file"
    expected = "a lock file beside every dependency manifest"

    async def check(self, target: Target, params: dict[str, Any], ctx: CheckContext) -> Outcome:
        files = await self.files(target, ctx)
        if files is None:
            return Outcome.not_applicable("The service has no repository URL.")
        names = _names(files)
        manifests = sorted(m for m in LOCKS if m in names)
        if not manifests:
            return Outcome.not_applicable("No dependency manifest found in the repository.")
        unpinned = [
            m
            for m in manifests
            if not any(fnmatch(n, pattern) for pattern in LOCKS[m] for n in names)
        ]
        if unpinned:
            return Outcome.failed(
                f"No lock file for {', '.join(unpinned)}.", manifests=manifests, unpinned=unpinned
            )
        return Outcome.passed(f"Lock files pin {', '.join(manifests)}.", manifests=manifests)


@register
class TerraformCheck(RepositoryCheck):
    key = "repo.terraform"
    title = "Infrastructure is described as code (Terraform)"
    expected = "at least one .tf file"

    async def check(self, target: Target, params: dict[str, Any], ctx: CheckContext) -> Outcome:
        files = await self.files(target, ctx)
        if files is None:
            return Outcome.not_applicable("The service has no repository URL.")
        terraform = sorted(path for path in files if path.endswith(".tf"))
        if not terraform:
            return Outcome.failed("No Terraform (.tf) files in the repository.")
        return Outcome.passed(f"{len(terraform)} Terraform file(s).", files=terraform[:20])
