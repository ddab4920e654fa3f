"""A commit is read once, from Git objects: every intent at it parsed, the invalid ones
kept with their problems, its files listed; nothing in the checkout moves."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatops.errors import IntentError, IntentNotFoundError
from chatops.gitops.commits import read_commit
from chatops.gitops.git import Git
from chatops.gitops.sync import RepoSync
from tests.unit.test_gitops import COMPOSE, INTENT, World, git


def test_a_commit_is_read_with_its_intents_parsed_once(tmp_path: Path) -> None:
    world = World.create(tmp_path, {
        "chatops/intents/web.yaml": INTENT.format(stack="web"),
        "chatops/intents/db.yml": INTENT.format(stack="db"),
        "chatops/intents/bad.yaml": "label_required: approved\naction: explode\nstack: x\n",
        "chatops/intents/notes.txt": "not an intent",
        "stacks/web/docker-compose.yml": COMPOSE.format(tag="v1"),
    })
    first = git(world.dev, "rev-parse", "HEAD")
    second = world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag="v2")})
    sync = RepoSync(world.host, "origin", "main")
    sync.fetch()
    before = git(world.host, "rev-parse", "HEAD")

    view = read_commit(sync, second)

    assert sorted(view.intents) == ["db", "web"]
    assert view.intent("web").documents[0].stack == "web"
    with pytest.raises(IntentError, match=rf"'bad' is invalid at commit {second[:12]}: .*"
                                          "action"):
        view.intent("bad")
    with pytest.raises(IntentNotFoundError, match=f"no intent named 'gone' at commit "
                                                  f"{second[:12]}"):
        view.intent("gone")
    assert "stacks/web/docker-compose.yml" in view.files
    assert view.tree is not None
    assert view.tree.read("stacks/web/docker-compose.yml") == COMPOSE.format(tag="v2").encode()
    # Nothing moved: the checkout is where it was, at the first commit.
    assert git(world.host, "rev-parse", "HEAD") == before == first


def test_many_files_come_from_one_batch_and_missing_ones_are_none(tmp_path: Path) -> None:
    world = World.create(tmp_path, {"a.txt": "alpha\n", "dir/b.bin": "\x00\x01\nbeta",
                                    "dir/c.txt": ""})
    sha = git(world.dev, "rev-parse", "HEAD")
    found = Git(world.dev).blobs(sha, ["a.txt", "nope.txt", "dir", "dir/b.bin",
                                       "dir/c.txt"])
    assert found == {"a.txt": b"alpha\n", "nope.txt": None, "dir": None,
                     "dir/b.bin": b"\x00\x01\nbeta", "dir/c.txt": b""}
