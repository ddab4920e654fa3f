"""The docs site builds with ``mkdocs build --strict`` (a broken link, a missing README
section or a setting no page explains fails it); its reference pages are made from the
code; the README stays what a newcomer reads first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chatops.settings import Settings
from chatops.settings.names import env_names
from tests.conftest import ROOT


def _build(site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d",
                           str(site)], cwd=ROOT, capture_output=True, text=True, check=False,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


def test_the_docs_site_builds_strict_with_pages_made_from_the_code(tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = _build(site)
    assert done.returncode == 0, done.stdout + done.stderr
    policy = (site / "policy" / "index.html").read_text(encoding="utf-8")
    assert "The compose policy: what a compose file may ask of the host" in policy
    dashboard = (site / "dashboard" / "index.html").read_text(encoding="utf-8")
    assert 'src="../dashboard-run.png"' in dashboard
    assert (site / "dashboard-run.png").is_file()
    start = (site / "start" / "index.html").read_text(encoding="utf-8")
    assert "builds it from a clean copy of the tree" in start  # the README's own section
    settings = (site / "settings" / "index.html").read_text(encoding="utf-8")
    for field in Settings.model_fields:  # every setting, from the model
        assert env_names(field)[0] in settings, field
    fields = (site / "intents" / "index.html").read_text(encoding="utf-8")
    assert "<code>label_required</code>" in fields
    assert "<code>port_env</code>" in fields  # a block's field, from the JSON Schema
    api = (site / "serving" / "index.html").read_text(encoding="utf-8")
    assert "<code>/previews/{number}</code>" in api  # from the OpenAPI document


def test_the_readme_is_what_a_newcomer_reads_first() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    assert "scripts/run.sh" in readme
    assert "scripts/test.sh" in readme
    assert "label_required: approved-by-gemini" in readme  # the seed's example
    for page in ("flow", "intents", "settings", "serving", "benchmarks"):
        assert f"(docs/{page}.md)" in readme


def test_a_setting_no_page_explains_fails_the_build() -> None:
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        from hooks import section, undocumented  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(ROOT / "docs"))
    assert "CHATOPS_PREVIEW_MAX" in undocumented({"a.md": "CHATOPS_PREVIEW_DOMAIN"})
    assert "CHATOPS_PREVIEW_DOMAIN" not in undocumented({"a.md": "CHATOPS_PREVIEW_DOMAIN"})
    with pytest.raises(ValueError, match=r"README\.md has no section 'nope'"):
        section("<!-- section: yes -->x<!-- end: yes -->", "nope")
    assert section("a<!-- section: yes -->see ](docs/x.png)<!-- end: yes -->b", "yes") \
        == "see ](x.png)"
