"""The docs site builds with ``mkdocs build --strict`` (a broken link or a missing README
section fails it), and its pages are the README's sections, not copies of them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def test_the_docs_site_builds_strict_from_the_readme(tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d",
                           str(site)], cwd=ROOT, capture_output=True, text=True, check=False,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    deploying = (site / "deploying" / "index.html").read_text(encoding="utf-8")
    assert "The compose policy: what a compose file may ask of the host" in deploying
    assert 'src="../dashboard-run.png"' in deploying
    assert (site / "dashboard-run.png").is_file()
    start = (site / "start" / "index.html").read_text(encoding="utf-8")
    assert "builds it from a clean copy of the tree" in start
    for page in (ROOT / "docs").glob("*.md"):
        text = page.read_text(encoding="utf-8")
        assert len(text.splitlines()) < 40, f"{page.name} copies text: include a section"


def test_a_missing_readme_section_fails_the_build() -> None:
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        from hooks import section  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(ROOT / "docs"))
    with pytest.raises(ValueError, match=r"README\.md has no section 'nope'"):
        section("<!-- section: yes -->x<!-- end: yes -->", "nope")
    assert section("a<!-- section: yes -->see ](docs/x.png)<!-- end: yes -->b", "yes") \
        == "see ](x.png)"
