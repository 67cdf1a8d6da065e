"""Starting, waiting for and stopping the processes that some tests run for real."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest


def start_process_group(
    command: Sequence[str], *, cwd: Path, env: Mapping[str, str]
) -> subprocess.Popen[str]:
    """Start ``command`` in a session of its own, so stop_process_group reaches its children."""
    return subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(
    check: Callable[[], Any], *, timeout: float, interval: float = 0.25, what: str
) -> Any:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as exc:  # the thing polled may not be up yet
            last_error = exc
        else:
            if result:
                return result
        time.sleep(interval)
    detail = f" (last error: {type(last_error).__name__}: {last_error})" if last_error else ""
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}{detail}", pytrace=False)


def stop_process_group(process: subprocess.Popen[Any], *, grace: float) -> None:
    """SIGTERM the process's group, then SIGKILL it if it is still there after ``grace``."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
