"""``chatops plan``: the dry run shows the exact argv, gates and rollback, and changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatops.intents.loader import parse_intent
from chatops.planning import PlanContext, build_plan
from chatops.repo import GitOpsRepo
from tests.conftest import EXAMPLE_REPO

C = "/srv/s/docker-compose.yml"


def plan_of(body: str, **ctx: object):
    intent = parse_intent(body, label="i.yaml", name="i")
    return build_plan(intent, PlanContext(repo=GitOpsRepo(Path("/repo")), **ctx))  # type: ignore[arg-type]


def argvs(body: str, **ctx: object) -> list[list[str]]:
    return [list(c.argv) for s in plan_of(body, **ctx).steps for c in s.commands]


HEAD = f"label_required: l\nstack: s\ncompose: {C}\n"


def test_rollout_of_one_service_pulls_then_recreates_only_it() -> None:
    assert argvs(HEAD + "action: rollout\nservice: plex\n") == [
        ["docker", "compose", "-f", C, "pull", "plex"],
        ["docker", "compose", "-f", C, "up", "-d", "--no-deps", "plex"],
    ]


def test_rollout_of_a_whole_stack() -> None:
    assert argvs(HEAD + "action: rollout\n") == [
        ["docker", "compose", "-f", C, "pull"],
        ["docker", "compose", "-f", C, "up", "-d"],
    ]


@pytest.mark.parametrize(("extra", "expected"), [
    ("action: scale\nservice: web\nreplicas: 3\n",
     [["up", "-d", "--no-deps", "--scale", "web=3", "web"]]),
    ("action: restart\nservice: web\n", [["restart", "web"]]),
    ("action: pull\n", [["pull"]]),
    ("action: up\n", [["up", "-d"]]),
    ("action: stop\nservice: web\n", [["stop", "web"]]),
    ("action: down\ndestructive: true\n", [["down"]]),
])
def test_each_action_plans_its_compose_command(extra: str, expected: list[list[str]]) -> None:
    assert argvs(HEAD + extra) == [["docker", "compose", "-f", C, *e] for e in expected]


def test_compose_command_is_a_setting() -> None:
    got = argvs(HEAD + "action: pull\n", compose_command=("podman", "compose"))
    assert got == [["podman", "compose", "-f", C, "pull"]]


def test_default_compose_file_is_under_stacks() -> None:
    plan = plan_of("label_required: l\nstack: media\naction: pull\n")
    assert plan.steps[0].compose == Path("/repo/stacks/media/docker-compose.yml")


def test_relative_compose_is_relative_to_the_repo_root() -> None:
    plan = plan_of("label_required: l\nstack: media\naction: pull\ncompose: x/c.yaml\n")
    assert plan.steps[0].compose == Path("/repo/x/c.yaml")


def test_rollout_plans_a_snapshot_container_gate_and_rollback() -> None:
    (step,) = plan_of(HEAD + "action: rollout\nservice: plex\n").steps
    assert step.snapshot
    assert [g.kind for g in step.gates] == ["container"]
    assert step.gates[0].implicit
    assert step.rollback is not None
    (restore,) = step.rollback.commands
    assert restore.argv == ("docker", "compose", "-f", C, "up", "-d", "--no-deps", "--scale",
                            "plex=<replicas before the run>", "plex")
    assert step.rollback.retag is not None


def test_no_rollback_flag_and_field() -> None:
    assert plan_of(HEAD + "action: rollout\n", rollback=False).steps[0].rollback is None
    assert plan_of(HEAD + "action: rollout\nrollback: false\n").steps[0].rollback is None


def test_scale_rollback_restores_replica_count() -> None:
    step = plan_of(HEAD + "action: scale\nservice: w\nreplicas: 2\nrollback: true\n").steps[0]
    assert step.rollback is not None
    assert "w=<replicas before the run>" in step.rollback.commands[0].argv


def test_health_checks_become_gates_with_deadlines() -> None:
    step = plan_of(HEAD + "action: rollout\nhealth:\n  - http: http://127.0.0.1:9/\n"
                   "    within: 45s\n  - container: s\n    state: healthy\n").steps[0]
    kinds = [(g.kind, g.within, g.implicit) for g in step.gates]
    assert kinds == [("http", 45, False), ("container", 60, False)]


def test_pull_and_stop_have_no_gates_and_no_snapshot() -> None:
    step = plan_of(HEAD + "action: pull\n").steps[0]
    assert (step.gates, step.rollback, step.snapshot) == ((), None, False)


def test_plan_command_prints_exact_argv_of_the_seed_intent(cli) -> None:
    result = cli("plan", "--repo", str(EXAMPLE_REPO), "rollout_stack_media")
    assert result.code == 0
    out = result.out
    assert "$ docker compose -f /opt/stacks/stack-media/docker-compose.yml pull plex" in out
    assert ("$ docker compose -f /opt/stacks/stack-media/docker-compose.yml up -d --no-deps plex"
            in out)
    assert "Purpose: Deploy Plex 1.40.5.8897 with subtitle rendering fixes" in out
    assert "on failure: roll back" in out
    assert "dry run, nothing is changed" in out


def test_plan_command_json(cli) -> None:
    result = cli("plan", "--repo", str(EXAMPLE_REPO), "rollout_all_stacks", "--format", "json")
    assert result.code == 0
    body = json.loads(result.out)
    assert [s["stack"] for s in body["steps"]] == ["stack-monitoring", "stack-media", "stack-home"]
    first = body["steps"][0]
    assert first["commands"][0]["argv"][-1] == "pull"
    assert first["health"][1]["check"]["http"] == "http://127.0.0.1:3001/"
    assert first["rollback"]["health_again"] is True


def test_plan_of_an_invalid_intent_lists_its_problems(cli, gitops) -> None:
    repo = gitops({"broken.yaml": "label_required: l\naction: scale\nstack: s\n"})
    result = cli("plan", "--repo", str(repo), "broken")
    assert result.code == 4
    assert "nothing was planned" in result.err
    assert "broken.yaml (doc 1/1): replicas: action scale needs replicas" in result.err


@pytest.mark.parametrize("name", ["../../etc/passwd", "nope"])
def test_plan_of_unknown_or_hostile_name_is_refused(cli, name: str) -> None:
    result = cli("plan", "--repo", str(EXAMPLE_REPO), name)
    assert result.code == 4
    assert result.err.startswith("error: ")
    assert "Traceback" not in result.err


def test_plan_does_not_touch_the_repo(cli, tmp_path: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in EXAMPLE_REPO.rglob("*")}
    assert cli("plan", "--repo", str(EXAMPLE_REPO), "scale_whoami").code == 0
    after = {p: p.stat().st_mtime_ns for p in EXAMPLE_REPO.rglob("*")}
    assert before == after


def test_a_canary_behind_a_proxy_plans_its_real_rollback() -> None:
    """Its rollback switches traffic back to the stable slot: no recreate, no scale."""
    plan = plan_of(HEAD + "action: rollout\nservice: web\nstrategy: canary\ntraffic: "
                   "{driver: haproxy, listen: "
                   "127.0.0.1:18180, ports: {blue: 18181, green: 18182}}\ncanary:\n"
                   "  steps: [{weight: 10, pause: 1s}, {weight: 100}]\n")
    rollback = plan.steps[0].rollback
    assert rollback is not None
    assert rollback.commands == ()
    assert "back to the stable slot" in rollback.description
