"""engine: swarm in the contract and the plan: what is refused, and what would run."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatops.errors import IntentError
from chatops.intents.loader import parse_intent
from chatops.planning import PlanContext, build_plan
from chatops.planning.render import render_text
from chatops.repo import GitOpsRepo

BASE = "label_required: approved\nstack: media\nengine: swarm\n"


def plan(body: str, tmp_path: Path) -> str:
    intent = parse_intent((BASE + body).encode(), label="x.yaml", name="x")
    return render_text(build_plan(intent, PlanContext(repo=GitOpsRepo(tmp_path),
                                                      state_dir=tmp_path / "state")))


def test_a_swarm_rollout_is_planned_with_pins_and_swarms_word(tmp_path: Path) -> None:
    text = plan("action: rollout\n", tmp_path)
    pins = tmp_path / "state" / "swarm" / "media.pins.yml"
    assert f"pin it by its digest ({pins})" in text
    assert (f"$ docker stack deploy -c {tmp_path}/stacks/media/docker-compose.yml -c {pins} "
            "--with-registry-auth --resolve-image always media") in text
    assert "paused and every rollback_* state are failures" in text
    assert "health gates: none" in text  # no container gate: the tasks are verified
    assert "every service back to its image digest in the snapshot" in text


def test_scale_restart_and_rollback_on_swarm_services(tmp_path: Path) -> None:
    scale = plan("action: scale\nservice: plex\nreplicas: 3\n", tmp_path)
    assert "$ docker service scale --detach media_plex=3" in scale
    restart = plan("action: restart\n", tmp_path)
    assert "$ docker service update --detach --force <each service>" in restart
    back = plan("action: rollback\nservice: plex\n", tmp_path)
    assert "--image <its image in the last good run, by digest> media_plex" in back


@pytest.mark.parametrize(("body", "field", "message"), [
    ("action: pull\n", "action", "engine swarm takes rollout, scale, restart, rollback"),
    ("action: rollout\nhost: nas\n", "host", "named hosts are for compose"),
    ("action: rollout\nengine: kubernetes\n", "engine", "'compose' or 'swarm'"),
])
def test_what_swarm_refuses(body: str, field: str, message: str) -> None:
    text = BASE.replace("engine: swarm\n", "") + ("engine: swarm\n" if "engine:" not in body
                                                 else "") + body
    with pytest.raises(IntentError) as caught:
        parse_intent(text.encode(), label="x.yaml", name="x")
    assert any(p.field == field and message in p.message for p in caught.value.problems), \
        caught.value.problems
