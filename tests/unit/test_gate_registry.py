"""Health-gate kinds are registered once; the intent model, its JSON Schema, the planner
and the executor all read the registry."""

from __future__ import annotations

import json

import pytest

from chatops.health import HEALTH_KINDS, REGISTRY, GateKind, kind_of, register
from chatops.health.http import HttpCheck
from chatops.intents.loader import parse_intent
from chatops.intents.schema import intent_json_schema
from chatops.planning import PlanContext, build_plan
from chatops.repo import GitOpsRepo

EXAMPLES = {
    "http": "http: http://127.0.0.1:8080/health",
    "tcp": "tcp: 127.0.0.1:8080",
    "container": "container: web",
    "kuma": "kuma: 3",
}


def test_every_registered_kind_is_in_the_model_the_schema_and_the_plan(tmp_path) -> None:
    assert set(HEALTH_KINDS) == set(REGISTRY) == set(EXAMPLES)
    schema = json.dumps(intent_json_schema())
    for key, line in EXAMPLES.items():
        assert f'"{key}"' in schema
        text = f"label_required: l\naction: rollout\nstack: s\nhealth:\n  - {line}\n"
        intent = parse_intent(text, label="i.yaml", name="i")
        (check,) = intent.documents[0].health
        kind = kind_of(check)
        assert (kind.key, type(check)) == (key, REGISTRY[key].model)
        plan = build_plan(intent, PlanContext(repo=GitOpsRepo(tmp_path)))
        described = [g.description for g in plan.steps[0].gates if g.kind == key]
        assert kind.describe(check) in described


def test_an_unknown_check_key_names_every_registered_kind() -> None:
    text = "label_required: l\naction: rollout\nstack: s\nhealth:\n  - ping: 127.0.0.1\n"
    with pytest.raises(Exception) as refused:  # noqa: PT011 - the message is the point
        parse_intent(text, label="i.yaml", name="i")
    for key in REGISTRY:
        assert key in str(refused.value)


def test_a_kind_is_registered_once() -> None:
    with pytest.raises(ValueError, match="registered already"):
        register(GateKind(key="http", model=HttpCheck, describe=str, run=REGISTRY["http"].run,
                          aim=REGISTRY["http"].aim, sees_stable=REGISTRY["http"].sees_stable))
