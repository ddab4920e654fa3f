"""What a pull-request (merge-request) event is, as chatops reads it from each forge:
opened, pushed, labels changed or closed; its labels, author and whether it comes from a
fork. The plan comment is written for the first two; previews follow all four."""

from __future__ import annotations

from typing import Any

import pytest

from chatops.gitops.forges.base import PullEvent, pull_of
from chatops.gitops.forges.gitea import PULL_ACTIONS as GITEA
from chatops.gitops.forges.github import PULL_ACTIONS as GITHUB
from chatops.gitops.forges.gitlab import merge_request_of

BASE, HEAD = "a" * 40, "b" * 40


def github_shaped(action: str, *, head_repo: str = "me/repo") -> dict[str, Any]:
    return {"action": action, "number": 7, "pull_request": {
        "number": 7, "title": "t", "user": {"login": "dev"},
        "labels": [{"name": "preview"}, {"name": "approved"}],
        "base": {"ref": "main", "sha": BASE, "repo": {"full_name": "me/repo"}},
        "head": {"ref": "feature", "sha": HEAD, "repo": {"full_name": head_repo}}}}


@pytest.mark.parametrize(("actions", "action", "kind"), [
    (GITHUB, "opened", "opened"), (GITHUB, "reopened", "opened"),
    (GITHUB, "synchronize", "pushed"), (GITHUB, "labeled", "labels"),
    (GITHUB, "unlabeled", "labels"), (GITHUB, "closed", "closed"),
    (GITEA, "synchronized", "pushed"), (GITEA, "label_updated", "labels"),
    (GITEA, "label_cleared", "labels"), (GITEA, "closed", "closed"),
])
def test_github_and_gitea_events_say_what_happened(actions: dict[str, str], action: str,
                                                    kind: str) -> None:
    event = pull_of(github_shaped(action), "main", actions)
    assert isinstance(event, PullEvent)
    assert event.kind == kind
    assert event.planned is (kind in ("opened", "pushed"))
    assert event.labels == ("preview", "approved")
    assert event.author == "dev"
    assert event.fork is False


def test_a_forks_pull_request_and_an_ignored_action_are_told_apart() -> None:
    fork = pull_of(github_shaped("opened", head_repo="someone/repo"), "main", GITHUB)
    assert isinstance(fork, PullEvent)
    assert fork.fork is True
    assert pull_of(github_shaped("assigned"), "main", GITHUB) == "pull request #7 assigned"


def gitlab(action: str, **attrs: Any) -> dict[str, Any]:
    return {"object_kind": "merge_request", "user": {"username": "dev"},
            "labels": [{"title": "preview"}],
            "changes": attrs.pop("changes", {}),
            "object_attributes": {"iid": 7, "action": action, "target_branch": "main",
                                  "source_branch": "feature", "title": "t",
                                  "last_commit": {"id": HEAD}, "source_project_id": 1,
                                  "target_project_id": 1, **attrs}}


@pytest.mark.parametrize(("payload", "kind"), [
    (gitlab("open"), "opened"), (gitlab("reopen"), "opened"),
    (gitlab("update", oldrev=BASE), "pushed"),
    (gitlab("update", changes={"labels": {"previous": [], "current": []}}), "labels"),
    (gitlab("close"), "closed"), (gitlab("merge"), "closed"),
])
def test_gitlab_merge_request_events_say_what_happened(payload: dict[str, Any],
                                                        kind: str) -> None:
    event = merge_request_of(payload, "main")
    assert isinstance(event, PullEvent)
    assert event.kind == kind
    assert event.labels == ("preview",)
    assert event.base is None  # GitLab does not say: the plan starts at the merge base


def test_gitlab_forks_and_other_updates() -> None:
    fork = merge_request_of(gitlab("open", source_project_id=2), "main")
    assert isinstance(fork, PullEvent)
    assert fork.fork is True
    assert merge_request_of(gitlab("update"), "main") == "merge request !7 update"
    assert merge_request_of(gitlab("open", target_branch="dev"), "main") == \
        "merge request !7 into dev, not main"
