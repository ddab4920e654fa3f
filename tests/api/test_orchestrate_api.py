"""POST /orchestrate: a graph of intents through the service, one parent run holding them."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import GOOD

INTENTS = {
    "base": "label_required: approved\naction: rollout\nstack: web\n",
    "app": "label_required: approved\naction: rollout\nstack: web\ndepends_on: [base]\n",
    "loop_a": "label_required: approved\naction: rollout\nstack: web\ndepends_on: [loop_b]\n",
    "loop_b": "label_required: approved\naction: rollout\nstack: web\ndepends_on: [loop_a]\n",
}


def post(api, body) -> object:
    return api.client.post("/orchestrate", content=json.dumps(body),
                           headers={"x-api-key": GOOD, "content-type": "application/json"})


def test_orchestrate_runs_dependencies_first_under_one_parent(make_api) -> None:
    api = make_api(intents=INTENTS)
    resp = post(api, {"intents": ["app"], "wait": True})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["intents"] == ["base", "app"]
    assert body["status"] == "succeeded"
    detail = api.get(f"/runs/{body['id']}").json()
    assert [c["intent"] for c in detail["children"]] == ["base", "app"]
    assert detail["summary"] == {"total": 2, "succeeded": 2, "rolled_back": 0, "failed": 0,
                                 "interrupted": 0}


def test_a_failure_skips_dependents_and_answers_500_when_waiting(make_api) -> None:
    api = make_api(intents=INTENTS)
    api.failing.add("pull")
    resp = post(api, {"intents": ["app"], "wait": True})
    assert resp.status_code == 500
    run = resp.json()["run"]
    assert run["reason"] == "2 intents: 0 succeeded, 0 rolled back, 1 failed, 1 skipped"
    assert [c["intent"] for c in run["children"]] == ["base"]


def test_cycles_and_unknown_names_are_refused_before_anything_runs(make_api) -> None:
    api = make_api(intents=INTENTS)
    cycle = post(api, {"intents": ["loop_a"]})
    assert (cycle.status_code, cycle.json()["error"]["code"]) == (422, "dependency_cycle")
    assert "loop_a -> loop_b -> loop_a" in cycle.json()["error"]["message"]
    unknown = post(api, {"intents": ["base", "ghost"]})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "intent_not_found")
    bad = post(api, {"intents": ["../x"]})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "intents")
    assert api.get("/runs").json()["runs"] == []


def test_dry_run_returns_the_plans_in_order(make_api) -> None:
    api = make_api(intents=INTENTS)
    resp = post(api, {"intents": ["app"], "dry_run": True})
    assert resp.json()["intents"] == ["base", "app"]
    assert set(resp.json()["plans"]) == {"base", "app"}
    assert api.engine.calls == []


def test_schedules_endpoint_lists_scheduled_intents(make_api) -> None:
    api = make_api(intents={
        "weekly": "label_required: approved\naction: rollout\nstack: web\n"
                  "schedule: '0 2 * * 0'\n",
        "manual": "label_required: approved\naction: rollout\nstack: web\n"})
    body = api.get("/schedules").json()
    assert body["missed_runs"] == "skip"
    (row,) = body["schedules"]
    assert (row["intent"], row["cron"]) == ("weekly", "0 2 * * 0")
    assert row["next"] > row["last_fire"]


def test_runs_outside_the_deploy_window_are_refused_with_the_next_open_time(
    make_api, monkeypatch,
) -> None:
    from tests.api.conftest import OPS

    monkeypatch.setenv("CHATOPS_FREEZE", "2000-01-01..2999-12-31")
    api = make_api(intents={"deploy_web": INTENTS["base"]})
    refused = api.post_run({"name": "deploy_web"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        403, "outside_deploy_window")
    assert "next open: 3000-01-01T00:00" in refused.json()["error"]["message"]
    assert api.post_run({"name": "deploy_web", "dry_run": True}).status_code == 200
    allowed = api.post_run({"name": "deploy_web"}, key=OPS)
    assert allowed.status_code == 200
    api.audit.flush()
    accepted = [r for r in api.audit_rows() if r["decision"] == "accepted"]
    assert "overridden by key 'ops'" in accepted[-1]["reason"]


def test_stopping_the_service_mid_orchestration_interrupts_parent_and_children(
    make_api, tmp_path,
) -> None:
    import time

    from chatops.locks import Locks
    from chatops.store.sqlite import RunStore

    slow = ("label_required: approved\naction: rollout\nstack: web\nhealth:\n"
            "  - tcp: 127.0.0.1:9\n    within: 60s\n")
    after = "label_required: approved\naction: rollout\nstack: web\ndepends_on: [slow]\n"
    api = make_api(intents={"slow": slow, "after": after}, shutdown_grace=0.5)
    resp = post(api, {"intents": ["after"]})
    parent_id = resp.json()["id"]
    time.sleep(1.0)
    api.client.__exit__(None, None, None)  # the service stops (lifespan shutdown)
    store = RunStore(api.state / "chatops.sqlite3")
    parent = store.get_run(parent_id, detail=False)
    children = store.children(parent_id)
    assert parent.status == "interrupted"
    assert [(c.intent, str(c.status)) for c in children] == [("slow", "interrupted")]
    assert Locks(api.state / "locks").busy("web") is None


def test_a_scheduled_run_passes_every_check_of_a_run(make_api) -> None:
    from chatops.errors import LabelNotApprovedError
    from chatops.server.schedules import SCHEDULER

    api = make_api(intents={
        "nightly": "label_required: unreviewed\naction: rollout\nstack: web\n"
                   "schedule: '0 2 * * *'\n",
        "weekly": "label_required: approved\naction: rollout\nstack: web\n"
                  "schedule: '0 3 * * 0'\n"})
    deploys = api.client.app.app.state.services.deploys  # the guard wraps the app
    with pytest.raises(LabelNotApprovedError):
        api.client.portal.call(deploys.fire, SCHEDULER, "nightly")
    refused = [r for r in api.audit_rows() if r["intent"] == "nightly"]
    assert [(r["decision"], r["status"]) for r in refused] == [("refused", 403)]
    assert "not among the approved labels" in refused[0]["reason"]
    assert api.engine.calls == []  # nothing ran

    run_id = api.client.portal.call(deploys.fire, SCHEDULER, "weekly")
    record = api.get(f"/runs/{run_id}").json()
    assert (record["intent"], record["trigger"]) == ("weekly", "schedule")
