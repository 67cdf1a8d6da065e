"""Repository checks against local git repositories (real git, real files)."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from reviews.checks.collectors.base import Result, Target
from reviews.checks.collectors.runner import Job, run_jobs


def make_repo(root: Path, files: dict[str, str]) -> str:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "HOME": str(root),
        "PATH": "/usr/bin:/bin",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)
    return f"file://{root}"


@pytest.fixture(autouse=True)
def _allow_file_protocol(settings):
    settings.CHECK_GIT_PROTOCOLS = ["file"]


def run(key: str, url: str, timeout: float = 10.0):
    target = replace(Target(service_id=1), repository_url=url)
    return run_jobs([Job(key, target, {})], timeout=timeout)[0]


def test_a_repository_with_manifests_and_their_locks_passes(tmp_path):
    url = make_repo(
        tmp_path,
        {
            "pyproject.toml": "",
            "uv.lock": "",
            "web/package.json": "{}",
            "web/package-lock.json": "{}",
        },
    )
    outcome = run("repo.lock_file", url)
    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["manifests"] == ["package.json", "pyproject.toml"]


def test_a_manifest_without_a_lock_fails_and_names_it(tmp_path):
    url = make_repo(
        tmp_path, {"pyproject.toml": "", "package.json": "{}", "package-lock.json": "{}"}
    )
    outcome = run("repo.lock_file", url)
    assert outcome.result == Result.FAIL
    assert outcome.observed["unpinned"] == ["pyproject.toml"]


def test_requirements_files_count_as_a_python_lock(tmp_path):
    url = make_repo(tmp_path, {"pyproject.toml": "", "requirements-prod.txt": "django==5.2"})
    assert run("repo.lock_file", url).result == Result.PASS


def test_terraform_files_anywhere_pass_and_none_fail(tmp_path):
    with_tf = make_repo(tmp_path / "a", {"infra/main.tf": "", "README.md": ""})
    without = make_repo(tmp_path / "b", {"README.md": ""})
    assert run("repo.terraform", with_tf).result == Result.PASS
    outcome = run("repo.terraform", without)
    assert outcome.result == Result.FAIL and "No Terraform" in outcome.explanation


def test_no_repository_url_is_not_applicable():
    assert run("repo.lock_file", "").result == Result.NOT_APPLICABLE


def test_a_missing_repository_is_an_error_with_the_reason(tmp_path):
    outcome = run("repo.terraform", f"file://{tmp_path}/nope")
    assert outcome.result == Result.ERROR
    assert "git could not read the repository" in outcome.explanation


def test_protocols_that_can_run_commands_are_refused(tmp_path, settings):
    settings.CHECK_GIT_PROTOCOLS = ["https"]
    marker = tmp_path / "pwned"
    outcome = run("repo.terraform", f"ext::sh -c touch% {marker}")
    assert outcome.result == Result.ERROR
    assert not marker.exists()
    local = make_repo(tmp_path / "r", {"main.tf": ""})
    assert run("repo.terraform", local).result == Result.ERROR  # file:// is not allowed either


@pytest.mark.parametrize(
    ("address", "protocols", "valid"),
    [
        ("https://github.com/org/repo", ["https"], True),
        ("https://github.com/org/repo.git", ["https"], True),
        ("http://git.example.com/repo", ["https"], False),
        ("git@github.com:org/repo.git", ["https"], False),
        ("git@github.com:org/repo.git", ["https", "ssh"], True),
        ("ssh://git@github.com/org/repo.git", ["ssh"], True),
        ("file:///srv/repo", ["https"], False),
        ("file:///srv/repo", ["https", "file"], True),
        ("ext::sh -c touch% /tmp/pwned", ["https", "ext"], False),
        ("-uhttps://github.com/org/repo", ["https"], False),
        ("https://", ["https"], False),
        ("https://ci:hunter2@github.com/org/repo", ["https"], False),
        ("ftp://example.com/repo", ["https"], False),
    ],
)
def test_the_repository_field_takes_what_git_may_read_and_nothing_else(
    settings, address, protocols, valid
):
    from django.core.exceptions import ValidationError

    from reviews.checks.collectors.repository import repository_address

    settings.CHECK_GIT_PROTOCOLS = protocols
    if valid:
        repository_address(address)
    else:
        with pytest.raises(ValidationError, match=r"Use an address git can read|password"):
            repository_address(address)
