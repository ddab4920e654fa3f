"""Debian's Chromium driven by Playwright (never a browser Playwright downloads), with
the launch flags HARNESS.md gives for this machine."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _missing(reason: str) -> None:
    if os.environ.get("CHATOPS_REQUIRE_TOOLS") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One browser for a module of tests; closed after it (Playwright's sync API runs an
    event loop in this thread while it is open, and later tests start their own)."""
    if not Path(CHROMIUM).exists():
        _missing("the browser tests need Debian's chromium (scripts/harness.sh installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the browser tests need playwright (pip install -e '.[test]')")
    profile = tempfile.mkdtemp(prefix="chatops-chromium-")
    with sync_playwright() as play:
        context = play.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1280, "height": 900})
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where each page's screenshot goes (CHATOPS_SCREENSHOTS, else a temporary folder)."""
    where = os.environ.get("CHATOPS_SCREENSHOTS")
    folder = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# The real engine, and per-test copies of the demo images, as the docker tests have them.
from tests.docker.conftest import engine, images  # noqa: E402, F401
