"""Looking an intent up by name never reads outside chatops/intents/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chatops.errors import IntentNotFoundError, RepoError
from chatops.repo import GitOpsRepo
from tests.conftest import EXAMPLE_REPO, SEED_INTENT


@pytest.mark.parametrize("name", [
    "../secrets", "..", "a/b", "/etc/passwd", "rollout_stack_media.yaml", "", "x\x00y",
    "..\\..\\win", "name with space", "%2e%2e",
])
def test_names_that_are_not_intent_names_are_refused(name: str) -> None:
    repo = GitOpsRepo(EXAMPLE_REPO)
    with pytest.raises(IntentNotFoundError, match="invalid intent name"):
        repo.intent_path(name)


def test_unknown_intent_is_not_found() -> None:
    with pytest.raises(IntentNotFoundError, match="no intent named 'nope'"):
        GitOpsRepo(EXAMPLE_REPO).intent_path("nope")


def test_symlink_out_of_the_intents_folder_is_refused(gitops, tmp_path: Path) -> None:
    repo = gitops()
    outside = tmp_path / "outside.yaml"
    outside.write_text(SEED_INTENT)
    os.symlink(outside, repo / "chatops/intents/sneaky.yaml")
    with pytest.raises(IntentNotFoundError, match="outside chatops/intents"):
        GitOpsRepo(repo).intent_path("sneaky")


def test_yaml_and_yml_for_one_name_is_ambiguous(gitops) -> None:
    repo = gitops({"a.yaml": SEED_INTENT, "a.yml": SEED_INTENT})
    with pytest.raises(IntentNotFoundError, match="defined twice"):
        GitOpsRepo(repo).intent_path("a")


def test_load_intent_by_name() -> None:
    intent = GitOpsRepo(EXAMPLE_REPO).load_intent("rollout_all_stacks")
    assert [d.stack for d in intent.documents] == ["stack-monitoring", "stack-media", "stack-home"]


def test_compose_paths_resolve_against_the_repo() -> None:
    repo = GitOpsRepo(EXAMPLE_REPO)
    seed = repo.load_intent("rollout_stack_media").documents[0]
    assert repo.compose_path(seed) == Path("/opt/stacks/stack-media/docker-compose.yml")
    default = repo.load_intent("scale_whoami").documents[0]
    assert repo.compose_path(default) == EXAMPLE_REPO / "stacks/stack-home/docker-compose.yml"


def test_discover_prefers_flag_then_env_then_cwd(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CHATOPS_REPO", str(EXAMPLE_REPO))
    assert GitOpsRepo.discover(tmp_path).root == tmp_path.resolve()
    assert GitOpsRepo.discover().root == EXAMPLE_REPO
    monkeypatch.delenv("CHATOPS_REPO")
    monkeypatch.chdir(tmp_path)
    assert GitOpsRepo.discover().root == tmp_path.resolve()


def test_discover_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(RepoError, match="is not a directory"):
        GitOpsRepo.discover(tmp_path / "missing")
