"""A graph of five intents on the real engine, and the seed's multi-document intent."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path

import pytest

from tests.docker.conftest import docker, free_port, http_get, wait_for_http
from tests.policy_kit import allow_loopback

pytestmark = pytest.mark.docker


@pytest.fixture(autouse=True)
def short_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATOPS_STABILITY_WINDOW", "0.5s")


class Fleet:
    def __init__(self, root: Path, images) -> None:
        self.root = root
        self.images = images
        self.projects: list[str] = []
        self.ports: dict[str, int] = {}
        (root / "chatops" / "intents").mkdir(parents=True)
        allow_loopback(root)

    def stack(self, name: str, variant: str) -> str:
        project = f"o-{uuid.uuid4().hex[:8]}"
        port = free_port()
        self.projects.append(project)
        self.ports[name] = port
        folder = self.root / "stacks" / name
        folder.mkdir(parents=True)
        (folder / "docker-compose.yml").write_text(textwrap.dedent(f"""\
            name: {project}
            services:
              web:
                image: {self.images(variant)}
                network_mode: host
                init: true
                environment:
                  PORT: "{port}"
            """))
        return name

    def intent(self, name: str, stack: str, *deps: str) -> None:
        text = f"label_required: l\naction: rollout\nstack: {stack}\nservice: web\n"
        if deps:
            text += f"depends_on: [{', '.join(deps)}]\n"
        (self.root / "chatops" / "intents" / f"{name}.yaml").write_text(text)

    def down(self) -> None:
        for project in self.projects:
            docker("compose", "-p", project, "down", "-t", "1", check=False)


@pytest.fixture
def fleet(engine: None, images, tmp_path: Path):
    f = Fleet(tmp_path / "repo", images)
    yield f
    f.down()


def test_a_failing_stack_in_the_middle_skips_its_dependents_only(cli, fleet: Fleet) -> None:
    for name, variant in (("a", "v1"), ("b", "v1"), ("c", "crash"), ("d", "v1"), ("e", "v2")):
        fleet.stack(name, variant)
    fleet.intent("deploy_a", "a")
    fleet.intent("deploy_b", "b")
    fleet.intent("deploy_c", "c", "deploy_a")
    fleet.intent("deploy_d", "d", "deploy_c")
    fleet.intent("deploy_e", "e", "deploy_b")

    result = cli("run", "--repo", str(fleet.root), "deploy_d", "deploy_e", "--keep-going")

    assert result.code == 1, result.out
    assert "5 intents: 3 succeeded, 1 rolled back, 0 failed, 1 skipped" in result.out
    assert http_get(f"http://127.0.0.1:{fleet.ports['a']}/version")[1].strip() == "v1"
    assert wait_for_http(f"http://127.0.0.1:{fleet.ports['e']}/version", "v2").strip() == "v2"
    listed = json.loads(cli("runs", "--format", "json", "--limit", "10").out)
    parent = next(r for r in listed if r["intent"].startswith("orchestrate:"))
    assert parent["status"] == "failed"
    assert parent["reason"] == "5 intents: 3 succeeded, 1 rolled back, 0 failed, 1 skipped"
    children = [r for r in listed if r.get("parent_id") == parent["id"]]
    assert sorted(r["intent"] for r in children) == [
        "deploy_a", "deploy_b", "deploy_c", "deploy_e"]


def test_unknown_names_and_cycles_are_refused_before_anything_runs(cli, fleet: Fleet) -> None:
    fleet.stack("a", "v1")
    fleet.intent("x", "a", "y")
    fleet.intent("y", "a", "x")
    cycle = cli("run", "--repo", str(fleet.root), "x", "deploy_nope")
    assert cycle.code == 4
    assert "no intent named 'deploy_nope'" in cycle.err or "dependency cycle" in cycle.err
    cycle = cli("run", "--repo", str(fleet.root), "x", "y")
    assert cycle.code == 4
    assert "dependency cycle: x -> y -> x" in cycle.err
    assert json.loads(cli("runs", "--format", "json").out) == []


def test_the_seeds_multi_document_intent_runs_its_steps_in_order(cli, fleet: Fleet) -> None:
    fleet.stack("monitoring", "v1")
    fleet.stack("media", "v2")
    (fleet.root / "chatops" / "intents" / "rollout_all_stacks.yaml").write_text(
        "label_required: l\naction: rollout\nstack: monitoring\n---\n"
        "label_required: l\naction: rollout\nstack: media\n")
    result = cli("run", "--repo", str(fleet.root), "rollout_all_stacks")
    assert result.code == 0, result.out
    assert result.out.index("[1/2] rollout on monitoring") < result.out.index(
        "[2/2] rollout on media")
    assert http_get(f"http://127.0.0.1:{fleet.ports['media']}/version")[1].strip() == "v2"
