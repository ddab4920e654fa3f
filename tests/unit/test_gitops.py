"""Syncing the host's checkout from a real bare remote, and finding affected intents."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from chatops.gitops.affected import affected_intents
from chatops.gitops.git import GitError
from chatops.gitops.sync import RepoSync
from chatops.repo import GitOpsRepo

IDENTITY = ["-c", "user.name=Dev", "-c", "user.email=dev@example.invalid",
            "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *IDENTITY, *args], cwd=cwd, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


@dataclass
class World:
    remote: Path
    dev: Path
    host: Path

    @classmethod
    def create(cls, folder: Path, initial: dict[str, str]) -> World:
        """A bare remote, a developer clone that pushes ``initial``, then the host's clone."""
        remote, dev, host = folder / "remote.git", folder / "dev", folder / "host"
        git(folder, "init", "-q", "--bare", str(remote))
        git(folder, "clone", "-q", str(remote), str(dev))
        world = cls(remote, dev, host)
        world.commit(initial, "initial")
        git(folder, "clone", "-q", str(remote), str(host))
        return world

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        for name, text in files.items():
            path = self.dev / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(self.dev, "add", "-A")
        git(self.dev, "commit", "-q", "-m", message)
        git(self.dev, "push", "-q", "origin", "HEAD:main")
        return git(self.dev, "rev-parse", "HEAD")


INTENT = "label_required: approved\naction: rollout\nstack: {stack}\n"
COMPOSE = "services:\n  web:\n    image: demo:{tag}\n"


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World.create(tmp_path, {
        "chatops/intents/deploy_media.yaml": INTENT.format(stack="media"),
        "chatops/intents/deploy_home.yaml": INTENT.format(stack="home")
        + "depends_on: [deploy_media]\n",
        "stacks/media/docker-compose.yml": COMPOSE.format(tag="v1"),
        "stacks/home/docker-compose.yml": COMPOSE.format(tag="v1"),
        "README.md": "hello\n"})


def test_sync_moves_the_checkout_to_the_branch_head(world: World) -> None:
    new = world.commit({"stacks/media/docker-compose.yml": COMPOSE.format(tag="v2")})
    result = RepoSync(world.host).sync()
    assert (result.sha, result.moved) == (new, True)
    assert "demo:v2" in (world.host / "stacks/media/docker-compose.yml").read_text()
    assert RepoSync(world.host).sync().moved is False


def test_sync_to_an_older_commit_on_the_branch(world: World) -> None:
    old = world.commit({"stacks/media/docker-compose.yml": COMPOSE.format(tag="v2")})
    world.commit({"stacks/media/docker-compose.yml": COMPOSE.format(tag="v3")})
    assert RepoSync(world.host).sync(old[:12]).sha == old
    assert "demo:v2" in (world.host / "stacks/media/docker-compose.yml").read_text()


def test_unknown_commit_is_refused_and_nothing_moves(world: World) -> None:
    before = RepoSync(world.host).head()
    with pytest.raises(GitError, match="does not contain it"):
        RepoSync(world.host).sync("deadbeefdeadbeef")
    assert RepoSync(world.host).head() == before


def test_commit_not_on_the_branch_is_refused(world: World) -> None:
    git(world.dev, "checkout", "-q", "-b", "feature")
    (world.dev / "x.txt").write_text("x")
    git(world.dev, "add", "-A")
    git(world.dev, "commit", "-q", "-m", "unmerged")
    git(world.dev, "push", "-q", "origin", "feature")
    feature = git(world.dev, "rev-parse", "HEAD")
    with pytest.raises(GitError, match="is not on main"):
        RepoSync(world.host).sync(feature)


def test_force_push_that_rewrites_history_drops_old_commits(world: World) -> None:
    doomed = world.commit({"a.txt": "a"})
    RepoSync(world.host).sync(doomed)  # the host has seen it
    git(world.dev, "reset", "-q", "--hard", "HEAD~1")
    (world.dev / "b.txt").write_text("b")
    git(world.dev, "add", "-A")
    git(world.dev, "commit", "-q", "-m", "rewritten")
    git(world.dev, "push", "-q", "--force", "origin", "HEAD:main")
    RepoSync(world.host).sync()
    with pytest.raises(GitError, match="not on main"):
        RepoSync(world.host).sync(doomed)


def test_dirty_checkout_is_refused(world: World) -> None:
    (world.host / "stacks/media/docker-compose.yml").write_text("hand edit\n")
    world.commit({"README.md": "new\n"})
    before = RepoSync(world.host).head()
    with pytest.raises(GitError, match="local edits"):
        RepoSync(world.host).sync()
    assert RepoSync(world.host).head() == before


def test_unreachable_remote_is_refused(world: World) -> None:
    git(world.host, "remote", "set-url", "origin", str(world.remote) + "-gone")
    with pytest.raises(GitError, match="cannot fetch main"):
        RepoSync(world.host).sync()


def test_options_are_never_passed_as_revisions(world: World) -> None:
    with pytest.raises(GitError, match="not a commit id"):
        RepoSync(world.host).changed_files("--output=/tmp/pwned", "HEAD")
    with pytest.raises(GitError, match="not a commit id"):
        RepoSync(world.host).sync("--help")


def _affected(world: World, base: str, head: str) -> list[str]:
    RepoSync(world.host).sync(head)
    repo = GitOpsRepo(world.host)
    intents = [repo.load_intent(p.stem) for p in repo.intent_files()]
    sync = RepoSync(world.host)
    return affected_intents(sync.changed_files(base, head), intents, repo, sync.tree(head))


def test_affected_by_compose_file_stack_folder_or_intent(world: World) -> None:
    base = RepoSync(world.host).head()
    media = world.commit({"stacks/media/docker-compose.yml": COMPOSE.format(tag="v2")})
    assert _affected(world, base, media) == ["deploy_media"]
    env = world.commit({"stacks/home/.env": "TZ=UTC\n"})
    assert _affected(world, media, env) == ["deploy_home"]
    both = world.commit({"stacks/home/docker-compose.yml": COMPOSE.format(tag="v9"),
                         "chatops/intents/deploy_media.yaml": INTENT.format(stack="media")
                         + "timeout: 5m\n"})
    assert _affected(world, env, both) == ["deploy_media", "deploy_home"]
    docs = world.commit({"README.md": "docs only\n"})
    assert _affected(world, both, docs) == []


HOOKED = (INTENT.format(stack="media") + "hooks:\n"
          "  pre_deploy:\n    - [\"./scripts/backup.sh\", \"--volume\", \"plex-config\"]\n"
          "  post_deploy:\n    - [\"/usr/bin/python3\", \"tools/purge.py\", "
          "\"--config=conf/purge.ini\"]\n")
SHARED = ("include:\n  - ../../shared/include.yml\n"
          "services:\n  web:\n    image: demo:v1\n    env_file: [../../env/web.env]\n"
          "    extends: {file: ../../shared/base.yml, service: base}\n"
          "configs:\n  app: {file: ../../conf/app.conf}\n"
          "secrets:\n  token: {file: ../../secrets/token.txt}\n")


def test_a_file_an_intent_uses_outside_its_stack_folder_affects_it(world: World) -> None:
    """The README's backup hook, an env_file, extends, include, configs and secrets:
    a change to any of them alone deploys the intent that uses it (and needs its label)."""
    files = {"scripts/backup.sh": "#!/bin/sh\n", "tools/purge.py": "", "conf/purge.ini": "",
             "env/web.env": "A=1\n", "shared/base.yml": "services: {base: {image: x}}\n",
             "shared/include.yml": "services: {other: {image: y}}\n",
             "conf/app.conf": "", "secrets/token.txt": "", "unrelated/notes.txt": ""}
    base = world.commit({**files, "chatops/intents/deploy_media.yaml": HOOKED,
                         "stacks/media/docker-compose.yml": SHARED})
    for path in [f for f in files if not f.startswith("unrelated/")]:
        head = world.commit({path: "changed " + path + "\n"})
        assert _affected(world, base, head) == ["deploy_media"], path
        base = head
    head = world.commit({"unrelated/notes.txt": "changed\n"})
    assert _affected(world, base, head) == []


def test_plan_lists_every_file_the_intent_uses(cli, world: World) -> None:
    world.commit({"scripts/backup.sh": "#!/bin/sh\n", "env/web.env": "A=1\n",
                  "shared/base.yml": "services: {base: {image: x}}\n",
                  "shared/include.yml": "services: {other: {image: y}}\n",
                  "conf/app.conf": "", "secrets/token.txt": "", "tools/purge.py": "",
                  "conf/purge.ini": "", "chatops/intents/deploy_media.yaml": HOOKED,
                  "stacks/media/docker-compose.yml": SHARED})
    RepoSync(world.host).sync()
    result = cli("plan", "deploy_media", "--repo", str(world.host))
    assert result.code == 0, result.err
    listed = result.out.split("Uses these repository files", 1)[1]
    for path in ("chatops/intents/deploy_media.yaml", "stacks/media",
                 "stacks/media/docker-compose.yml", "scripts/backup.sh", "tools/purge.py",
                 "conf/purge.ini", "env/web.env", "shared/base.yml", "shared/include.yml",
                 "conf/app.conf", "secrets/token.txt"):
        assert f"  {path}\n" in listed, path


def test_affected_command(cli, world: World) -> None:
    base = RepoSync(world.host).head()
    head = world.commit({"stacks/media/docker-compose.yml": COMPOSE.format(tag="v2")})
    RepoSync(world.host).sync()
    result = cli("affected", "--repo", str(world.host), "--base", base, "--head", head)
    assert (result.code, result.out) == (0, "deploy_media\n")
