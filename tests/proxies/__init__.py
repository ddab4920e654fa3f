"""Real proxies started on loopback for tests (and the benchmark)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest


def binary_or_skip(name: str, how: str) -> str:
    """The path of program ``name`` (beside this Python, on PATH, or in /usr/sbin); skip,
    or fail under CI (``CHATOPS_REQUIRE_DOCKER=1``), naming ``how`` to install it."""
    for candidate in (Path(sys.executable).parent / name, shutil.which(name),
                      Path("/usr/sbin") / name):
        if candidate and Path(candidate).exists():
            return str(candidate)
    message = f"{name} is not installed ({how})"
    if os.environ.get("CHATOPS_REQUIRE_DOCKER") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def stop_group(proc: subprocess.Popen[bytes] | None, *, kill: bool = False) -> None:
    """End a process started with ``start_new_session=True``, and its children: SIGTERM
    (SIGKILL with ``kill``, or after 10 s)."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
