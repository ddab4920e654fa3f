"""The HTTP API as CI and operators meet it: every status code, one error shape."""

from __future__ import annotations

import hmac
import json
import time

import pytest

from chatops.locks import Locks
from chatops.server.keys import ApiKey, KeyRing, hash_token
from tests.api.conftest import AUDITOR, GOOD, LIMITED, Api


def error(resp) -> tuple[int, str]:
    body = resp.json()
    assert set(body) <= {"error", "run"}
    assert set(body["error"]) >= {"code", "message"}
    return resp.status_code, body["error"]["code"]


def wait_final(api: Api, run_id: str, timeout: float = 10) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        resp = api.get(f"/runs/{run_id}")
        assert resp.status_code == 200, resp.text
        run = resp.json()
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")


def test_the_seeds_call_is_accepted_and_the_run_happens(make_api) -> None:
    api = make_api()
    resp = api.post_run({"name": "deploy_web"})
    assert resp.status_code == 200
    body = resp.json()
    assert (body["intent"], body["action"], body["stack"]) == ("deploy_web", "rollout", "web")
    assert body["status"] in ("queued", "running")
    assert body["links"] == {"self": f"/runs/{body['id']}", "log": f"/runs/{body['id']}/log"}
    run = wait_final(api, body["id"])
    assert run["status"] == "succeeded"
    assert (run["trigger"], run["actor"], run["client"]) == ("api", "ci", "127.0.0.1")
    assert any("pull" in argv for argv in api.engine.calls)


def test_missing_key_is_401(make_api) -> None:
    assert error(make_api().post_run({"name": "deploy_web"}, key=None)) == (401, "missing_key")


@pytest.mark.parametrize("key", ["wrong", GOOD[:-1] + "w", GOOD + "x", GOOD.upper(),
                                 " " + GOOD[1:]])
def test_wrong_keys_are_401_even_one_character_off(make_api, key: str) -> None:
    assert error(make_api().post_run({"name": "deploy_web"}, key=key)) == (401, "invalid_key")


def test_a_key_of_only_spaces_is_no_key(make_api) -> None:
    # Whitespace around a header value is not part of it (RFC 9110, 5.5).
    assert error(make_api().post_run({"name": "deploy_web"}, key=" ")) == (401, "missing_key")


def test_bearer_token_works_too(make_api) -> None:
    api = make_api()
    resp = api.client.get("/runs", headers={"authorization": f"Bearer {GOOD}"})
    assert resp.status_code == 200


def test_address_outside_the_allowlist_is_403(make_api) -> None:
    api = make_api(peer="192.0.2.10")
    assert error(api.post_run({"name": "deploy_web"})) == (403, "address_not_allowed")


def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(make_api) -> None:
    api = make_api(ip_allowlist="100.64.0.0/10")
    resp = api.post_run({"name": "deploy_web"}, **{"x-forwarded-for": "100.64.0.5"})
    assert error(resp) == (403, "address_not_allowed")
    assert "127.0.0.1" in resp.json()["error"]["message"]


def test_forwarded_for_is_believed_from_a_trusted_proxy(make_api) -> None:
    api = make_api(ip_allowlist="100.64.0.0/10", trusted_proxies="127.0.0.1")
    resp = api.post_run({"name": "deploy_web"},
                        **{"x-forwarded-for": "203.0.113.9, 100.64.0.5"})
    assert resp.status_code == 200
    run_id = resp.json()["id"]
    run = api.client.get(f"/runs/{run_id}", headers={
        "x-api-key": GOOD, "x-forwarded-for": "100.64.0.5"}).json()
    assert run["client"] == "100.64.0.5"


def test_ipv6_allowlist(make_api) -> None:
    api = make_api(peer="::1", ip_allowlist="::1/128")
    assert api.post_run({"name": "deploy_web"}).status_code == 200
    api = make_api(peer="2001:db8::1", ip_allowlist="::1/128")
    assert error(api.post_run({"name": "deploy_web"})) == (403, "address_not_allowed")


def test_key_scope_is_403(make_api) -> None:
    resp = make_api().post_run({"name": "deploy_web"}, key=LIMITED)
    assert error(resp) == (403, "scope_denied")
    assert "other_*" in resp.json()["error"]["message"]


def test_read_only_key_cannot_start_runs(make_api) -> None:
    assert error(make_api().post_run({"name": "deploy_web"}, key=AUDITOR)) == (
        403, "scope_denied")


def test_unapproved_label_is_403(make_api) -> None:
    api = make_api(approved_labels="something-else")
    assert error(api.post_run({"name": "deploy_web"})) == (403, "label_not_approved")


def test_no_approved_labels_configured_is_503(make_api) -> None:
    api = make_api(approved_labels="")
    assert error(api.post_run({"name": "deploy_web"})) == (503, "not_configured")


def test_unknown_intent_is_404(make_api) -> None:
    assert error(make_api().post_run({"name": "nope"})) == (404, "intent_not_found")


@pytest.mark.parametrize("name", [
    "../deploy_web", "../../etc/passwd", "/etc/passwd", "deploy_web\x00", "deploy_web/../x",
    "deploy_w\u0435b",  # a Cyrillic look-alike of "e"
    "deploy web", "..", "%2e%2e%2fdeploy_web",
])
def test_hostile_intent_names_are_422_naming_the_field(make_api, name: str) -> None:
    resp = make_api().post_run({"name": name})
    assert error(resp) == (422, "invalid_intent_name")
    assert resp.json()["error"]["field"] == "name"


def test_stack_busy_is_409_when_the_caller_will_not_queue(make_api) -> None:
    import asyncio

    api = make_api()
    locks = Locks(api.state / "locks")
    held = asyncio.run(locks.acquire(["web"], owner="a CLI run", wait=False,
                                     sleep=asyncio.sleep))
    try:
        resp = api.post_run({"name": "deploy_web", "queue": False})
        assert error(resp) == (409, "stack_busy")
        assert "a CLI run" in resp.json()["error"]["message"]
    finally:
        held.release()


def test_huge_body_is_413(make_api) -> None:
    api = make_api()
    body = json.dumps({"name": "deploy_web", "pad": "x" * 200_000})
    resp = api.client.post("/run", content=body,
                           headers={"x-api-key": GOOD, "content-type": "application/json"})
    assert error(resp) == (413, "body_too_large")


def test_huge_body_without_content_length_is_413(make_api) -> None:
    api = make_api()

    def chunks():
        for _ in range(100):
            yield b"x" * 10_000

    resp = api.client.post("/run", content=chunks(),
                           headers={"x-api-key": GOOD, "content-type": "application/json"})
    assert error(resp) == (413, "body_too_large")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "", "application/yaml"])
def test_body_that_is_not_json_is_415(make_api, content_type: str) -> None:
    resp = make_api().client.post("/run", content=b'{"name": "deploy_web"}',
                                  headers={"x-api-key": GOOD, "content-type": content_type})
    assert error(resp) == (415, "unsupported_media_type")


@pytest.mark.parametrize(("body", "code", "field"), [
    (b"{not json", "invalid_json", None),
    (b"[" * 5000 + b"]" * 5000, "invalid_json", None),
    (b'"just a string"', "invalid_body", None),
    (b'{"name": 5}', "invalid_body", "name"),
    (b'{"name": "deploy_web", "wait": "yes"}', "invalid_body", "wait"),
    (b'{"name": "deploy_web", "nmae": "x"}', "invalid_body", "nmae"),
    (b'{}', "invalid_body", "name"),
    (b'{"name": "deploy_web", "sha": "not-a-sha"}', "invalid_body", "sha"),
])
def test_invalid_bodies_are_422_naming_the_field(make_api, body: bytes, code: str,
                                                 field: str | None) -> None:
    resp = make_api().client.post("/run", content=body, headers={
        "x-api-key": GOOD, "content-type": "application/json"})
    assert error(resp) == (422, code)
    assert resp.json()["error"].get("field") == field


def test_invalid_intent_file_is_422_with_its_problems(make_api) -> None:
    api = make_api(intents={"broken": "label_required: approved\naction: scale\nstack: web\n"})
    resp = api.post_run({"name": "broken"})
    assert error(resp) == (422, "invalid_intent")
    fields = {p["field"] for p in resp.json()["error"]["problems"]}
    assert fields == {"service", "replicas"}


def test_dry_run_returns_the_plan_and_changes_nothing(make_api) -> None:
    api = make_api()
    resp = api.post_run({"name": "deploy_web", "dry_run": True})
    assert resp.status_code == 200
    plan = resp.json()["plan"]
    assert plan["steps"][0]["commands"][0]["argv"][-2:] == ["pull", "app"]
    assert api.engine.calls == []
    assert api.get("/runs").json()["runs"] == []


def test_wait_answers_200_only_when_the_run_succeeds(make_api) -> None:
    api = make_api()
    ok = api.post_run({"name": "deploy_web", "wait": True})
    assert ok.status_code == 200
    assert ok.json()["run"]["status"] == "succeeded"
    api.failing.add("pull")
    failed = api.post_run({"name": "deploy_web", "wait": True})
    assert error(failed) == (500, "run_failed")
    assert failed.json()["run"]["status"] == "failed"
    assert "simulated failure" in failed.json()["run"]["reason"]


def test_idempotency_key_returns_the_same_run(make_api) -> None:
    api = make_api()
    first = api.post_run({"name": "deploy_web"}, **{"idempotency-key": "merge-abc"})
    again = api.post_run({"name": "deploy_web"}, **{"idempotency-key": "merge-abc"})
    assert first.json()["id"] == again.json()["id"]
    assert again.json()["idempotent_replay"] is True
    wait_final(api, first.json()["id"])
    assert len(api.get("/runs").json()["runs"]) == 1


def test_runs_are_listed_filtered_and_paged(make_api) -> None:
    api = make_api()
    ids = [api.post_run({"name": "deploy_web", "wait": True}).json()["id"] for _ in range(3)]
    page = api.get("/runs", params={"limit": 2}).json()
    assert [r["id"] for r in page["runs"]] == ids[::-1][:2]
    assert page["next"] == "/runs?limit=2&offset=2"
    assert api.get("/runs", params={"status": "failed"}).json()["runs"] == []
    assert len(api.get("/runs", params={"stack": "web"}).json()["runs"]) == 3
    assert error(api.get("/runs", params={"limit": 0})) == (422, "invalid_request")
    assert error(api.get("/runs", params={"status": "bogus"})) == (422, "invalid_request")
    detail = api.get(f"/runs/{ids[0]}").json()
    assert [s["phase"] for s in detail["steps"]][:2] == ["preflight", "deploy"] or \
        {s["phase"] for s in detail["steps"]} >= {"preflight", "deploy"}
    assert error(api.get("/runs/nope")) == (404, "run_not_found")


def test_run_log_streams_lines_then_the_outcome(make_api) -> None:
    api = make_api()
    run_id = api.post_run({"name": "deploy_web", "wait": True}).json()["id"]
    with api.client.stream("GET", f"/runs/{run_id}/log", headers={"x-api-key": GOOD}) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        text = "".join(resp.iter_text())
    events = [block for block in text.split("\n\n") if block.strip()]
    assert events[-1].startswith("event: outcome")
    assert json.loads(events[-1].split("data: ", 1)[1]) == {"status": "succeeded",
                                                            "reason": None}


def test_intents_are_listed_with_their_plan(make_api) -> None:
    api = make_api(intents={"deploy_web": "label_required: approved\naction: rollout\n"
                            "stack: web\n", "broken": "action: nope\n"})
    listed = {i["name"]: i for i in api.get("/intents").json()["intents"]}
    assert listed["deploy_web"]["valid"] is True
    assert listed["broken"]["valid"] is False
    detail = api.get("/intents/deploy_web").json()
    assert detail["plan"]["steps"][0]["action"] == "rollout"
    assert error(api.get("/intents/nope")) == (404, "intent_not_found")


def test_the_intent_list_follows_the_folder(make_api) -> None:
    """The list is kept between requests, and made again as soon as a file is changed,
    added or removed."""
    api = make_api(intents={"deploy_web": "label_required: approved\naction: rollout\n"
                            "stack: web\n"})
    folder = api.root / "chatops" / "intents"
    first = api.get("/intents").json()
    assert api.get("/intents").json() == first
    assert first["intents"][0]["documents"] == [
        {"label_required": "approved", "action": "rollout", "stack": "web"}]
    (folder / "deploy_web.yaml").write_text("label_required: approved\naction: restart\n"
                                            "stack: web\n")
    (folder / "zz_new.yaml").write_text("action: nope\n")
    listed = {i["name"]: i for i in api.get("/intents").json()["intents"]}
    assert listed["deploy_web"]["documents"][0]["action"] == "restart"
    assert listed["zz_new"]["valid"] is False
    (folder / "zz_new.yaml").unlink()
    assert [i["name"] for i in api.get("/intents").json()["intents"]] == ["deploy_web"]


def test_validate_checks_yaml_like_the_cli(make_api) -> None:
    api = make_api()
    headers = {"x-api-key": GOOD, "content-type": "application/yaml"}
    good = api.client.post("/validate", params={"name": "x"}, headers=headers,
                           content="label_required: approved\naction: rollout\nstack: web\n")
    assert good.json()["valid"] is True
    bad = api.client.post("/validate", headers=headers,
                          content="label_required: approved\naction: rollout\nstack: web\n"
                                  "servce: app\n")
    (problem,) = bad.json()["errors"]
    assert problem["message"] == "unknown field; did you mean 'service'?"
    assert problem["line"] == 4
    missing = api.client.post("/validate", headers=headers,
                              content="label_required: a\naction: up\nstack: w\n"
                                      "depends_on: [ghost]\n")
    assert missing.json()["valid"] is False
    assert error(api.client.post("/validate", headers={"x-api-key": GOOD,
                                                       "content-type": "image/png"},
                                 content=b"\x89PNG")) == (415, "unsupported_media_type")


def test_health_readiness_and_metrics(make_api) -> None:
    api = make_api()
    assert api.client.get("/healthz").json() == {"status": "ok", "checks": {}}
    assert api.client.get("/readyz").status_code == 200
    api.post_run({"name": "deploy_web", "wait": True})
    api.post_run({"name": "deploy_web"}, key="bad")
    text = api.client.get("/metrics").text
    assert 'chatops_runs_total{intent="deploy_web",outcome="succeeded"} 1.0' in text
    assert 'chatops_rejected_requests_total{reason="invalid_key"} 1.0' in text
    assert "chatops_queue_depth" in text
    api.engine.available = False
    ready = api.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["store"] == "ok"


def test_flood_of_bad_keys_is_rate_limited_then_locked_out_but_others_still_work(
    make_api,
) -> None:
    api = make_api(lockout_failures=5, burst_per_address=100)
    codes = [api.post_run({"name": "deploy_web"}, key=f"bad-{i}").status_code
             for i in range(8)]
    assert codes[:5] == [401] * 5
    locked = api.post_run({"name": "deploy_web"}, key=GOOD)
    assert error(locked) == (429, "locked_out")
    assert int(locked.headers["retry-after"]) > 0
    from starlette.testclient import TestClient

    other = TestClient(api.client.app, client=("127.0.0.2", 4000))
    resp = other.post("/run", content=b'{"name": "deploy_web"}',
                      headers={"x-api-key": GOOD, "content-type": "application/json"})
    assert resp.status_code == 200


def test_rate_limit_per_address_is_429_with_retry_after(make_api) -> None:
    api = make_api(rate_per_address=0.5, burst_per_address=3)
    codes = [api.get("/runs").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200]
    assert codes[3] == 429
    assert api.get("/runs").headers["retry-after"] == "2"


def test_audit_records_every_decision_without_secrets(make_api) -> None:
    api = make_api()
    run_id = api.post_run({"name": "deploy_web"}).json()["id"]
    api.post_run({"name": "deploy_web"}, key="wrong-key-value")
    api.post_run({"name": "../x"})
    api.audit.flush()
    rows = api.audit_rows()
    decisions = [(r["decision"], r["status"], r["key_name"]) for r in rows]
    assert decisions[:3] == [("accepted", 200, "ci"), ("refused", 401, None),
                             ("refused", 422, "ci")]
    assert rows[0]["run_id"] == run_id
    assert rows[0]["client"] == "127.0.0.1"
    assert all(r["request_id"] for r in rows)
    dump = json.dumps(rows)
    assert GOOD not in dump
    assert "wrong-key-value" not in dump


def test_huge_numbers_in_queries_are_422_not_500(make_api) -> None:
    api = make_api()
    resp = api.get("/audit", key=AUDITOR, params={"after": str(2**99)})
    assert error(resp) == (422, "invalid_request")
    assert error(api.get("/runs", params={"offset": str(2**99)})) == (422, "invalid_request")


def test_audit_endpoint_needs_the_audit_scope(make_api) -> None:
    api = make_api()
    api.post_run({"name": "deploy_web"})
    assert error(api.get("/audit")) == (403, "scope_denied")
    records = api.get("/audit", key=AUDITOR).json()["records"]
    assert records[0]["decision"] == "accepted"


def test_every_key_is_compared_in_constant_time() -> None:
    keys = [ApiKey(f"k{i}", hash_token(f"token-{i}")) for i in range(5)]
    calls: list[tuple[str, str]] = []

    def counting(a: str, b: str) -> bool:
        calls.append((a, b))
        return hmac.compare_digest(a, b)

    ring = KeyRing(keys, compare=counting)
    assert ring.match("token-0") is keys[0]
    assert len(calls) == 5  # no early exit at the first match
    calls.clear()
    assert ring.match("token-9") is None
    assert len(calls) == 5
    assert KeyRing().compare is hmac.compare_digest


def test_revoked_key_is_refused() -> None:
    key = ApiKey("old", hash_token("t"), revoked_at="2026-01-01")
    assert KeyRing([key]).match("t") is None


def test_unknown_path_and_method_use_the_error_shape(make_api) -> None:
    api = make_api()
    assert error(api.get("/nope")) == (404, "not_found")
    resp = api.client.delete("/run", headers={"x-api-key": GOOD})
    assert error(resp) == (405, "method_not_allowed")


def test_a_flood_of_alike_refusals_is_counted_not_lost(make_api) -> None:
    api = make_api(burst_per_address=1000, lockout_failures=1000)
    for _ in range(50):
        api.post_run({"name": "deploy_web"}, key="bad")
    api.audit.flush()
    refused = [r for r in api.audit_rows() if r["reason"] == "invalid_key"]
    assert sum(r["count"] for r in refused) == 50
    assert len(refused) < 50
    assert api.audit.verify().ok


def test_drift_answers_what_differs_and_sets_the_gauge(make_api) -> None:
    from chatops.engine.base import ContainerState

    api = make_api()
    assert api.post_run({"name": "deploy_web", "wait": True}).status_code == 200
    clean = api.client.get("/drift", headers={"x-api-key": GOOD})
    assert clean.json() == {"clean": True, "drift": []}
    assert api.client.get("/drift").status_code == 401
    # Someone recreated the container by hand on another image, and added one.
    api.engine.containers_by_project["web"] = [
        ContainerState(id="d" * 64, name="web-app-1", service="app", image_ref="app:v2",
                       image_id="sha256:" + "9" * 64, state="running", health=None,
                       restart_count=0, exit_code=0),
        ContainerState(id="e" * 64, name="web-debug-1", service="debug", image_ref="busybox",
                       image_id="sha256:" + "8" * 64, state="running", health=None,
                       restart_count=0, exit_code=0)]
    found = api.client.get("/drift", headers={"x-api-key": GOOD}).json()
    assert found["clean"] is False
    assert sorted(d["kind"] for d in found["drift"]) == ["image", "orphan"]
    assert all(d["stack"] == "web" for d in found["drift"])
    text = api.client.get("/metrics").text
    assert 'chatops_drift{kind="image"} 1.0' in text
    assert 'chatops_drift{kind="orphan"} 1.0' in text
    assert 'chatops_drift{kind="missing"} 0.0' in text
