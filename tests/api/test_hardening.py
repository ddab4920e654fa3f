"""The service tried as an attacker and a careless operator would, as a real process on
loopback: nothing moves until every check agrees, requests are bounded, secrets are
secrets, replays are refused by content, and nothing happens unaudited."""

from __future__ import annotations

import contextlib
import hashlib
import json
import select
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chatops.gitops.forges.github import sign
from chatops.server.keys import KeyStore
from chatops.store.records import RunStatus
from chatops.store.sqlite import RunStore
from tests.fakes.github import FakeGitHub
from tests.served import KEY, Service, raw_request, start
from tests.unit.test_gitops import World, git

INTENT = "label_required: {label}\naction: rollout\nstack: {stack}\n"
COMPOSE = "services:\n  app:\n    image: app:{tag}\n"


def error(resp: httpx.Response) -> tuple[int, str]:
    return resp.status_code, resp.json()["error"]["code"]


def tree_digest(folder: Path) -> str:
    """HEAD and every byte of the working tree (not .git)."""
    digest = hashlib.sha256(git(folder, "rev-parse", "HEAD").encode())
    for path in sorted(p for p in folder.rglob("*") if ".git" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def gitworld(tmp_path: Path) -> tuple[World, list[str]]:
    """Three commits on main; the host's checkout sits at the middle one."""
    world = World.create(tmp_path, {
        "chatops/intents/deploy_web.yaml": INTENT.format(label="approved", stack="web"),
        "chatops/intents/deploy_other.yaml": INTENT.format(label="approved", stack="other"),
        "chatops/intents/deploy_unapproved.yaml": INTENT.format(label="nobody", stack="web"),
        "stacks/web/docker-compose.yml": COMPOSE.format(tag="v1"),
        "stacks/other/docker-compose.yml": COMPOSE.format(tag="v1")})
    commits = [git(world.dev, "rev-parse", "HEAD")]
    for tag in ("v2", "v3"):
        commits.append(world.commit({"stacks/web/docker-compose.yml": COMPOSE.format(tag=tag),
                                     "stacks/other/docker-compose.yml": COMPOSE.format(tag=tag)}))
    git(world.host, "fetch", "-q")
    git(world.host, "checkout", "-q", "--detach", commits[1])
    return world, commits


@pytest.fixture
def services(tmp_path: Path) -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for service in started:
        service.stop()


def narrow_key(state: Path, **kw: object) -> str:
    store = KeyStore(state / "chatops.sqlite3")
    try:
        return store.create(f"narrow-{uuid.uuid4().hex[:6]}", **kw)[1]  # type: ignore[arg-type]
    finally:
        store.close()


def deployed(state: Path, sha: str) -> None:
    """The run history says deploy_web at ``sha`` succeeded."""
    store = RunStore(state / "chatops.sqlite3")
    try:
        run = store.create_run(intent="deploy_web", trigger="api", actor="ci", client="-",
                               stacks=["web"], sha=sha)
        store.finish_run(run.id, RunStatus.succeeded, None)
    finally:
        store.close()


# -- 1. nothing moves until everything agrees -----------------------------------------

def test_refusals_and_dry_runs_leave_head_and_the_working_tree_byte_identical(
        gitworld: tuple[World, list[str]], services: list[Service], tmp_path: Path) -> None:
    world, (c0, c1, c2) = gitworld
    state = tmp_path / "state"
    web_only = narrow_key(state, stacks=["web"])
    no_rollback = narrow_key(state)  # run and read, not rollback
    deployed(state, c1)
    service = start(world.host, state)
    services.append(service)
    closed = start(world.host, tmp_path / "state-frozen", env={"CHATOPS_FREEZE": "always"})
    services.append(closed)
    before = tree_digest(world.host)

    cases = []
    for sha in (c0, c2, None):
        extra = {"sha": sha} if sha else {}
        cases += [
            (service, web_only, {"name": "deploy_other", **extra}, (403, "scope_denied")),
            (service, KEY, {"name": "deploy_unapproved", **extra}, (403, "label_not_approved")),
            (closed, KEY, {"name": "deploy_web", **extra}, (403, "outside_deploy_window")),
            (service, KEY, {"name": "deploy_web", "dry_run": True, **extra}, (200, None)),
            (closed, KEY, {"name": "deploy_web", "dry_run": True, **extra}, (200, None)),
            # Going back to c0 is a rollback, which a dry run reports like the real run.
            (service, web_only, {"name": "deploy_web", "dry_run": True, **extra},
             (403, "scope_denied") if sha == c0 else (200, None)),
        ]
    # Older than the deployed c1: a rollback, which this key may not do.
    cases.append((service, no_rollback, {"name": "deploy_web", "sha": c0},
                  (403, "scope_denied")))
    cases.append((service, KEY, {"name": "deploy_web", "sha": "f" * 40},
                  (409, "commit_not_on_branch")))
    for target, key, body, expected in cases:
        resp = target.post("/run", body, key=key)
        got = (resp.status_code, None if resp.status_code == 200 else resp.json()["error"]["code"])
        assert got == expected, (body, resp.text)
        assert tree_digest(world.host) == before, f"{body} moved the checkout"
    refusal = service.post("/run", {"name": "deploy_web", "sha": c0}, key=no_rollback)
    assert "rollback" in refusal.json()["error"]["message"]
    dry = service.post("/run", {"name": "deploy_web", "sha": c2, "dry_run": True})
    assert "app:v3" not in dry.text or dry.json()["intent"] == "deploy_web"


def test_a_run_for_an_older_commit_is_a_rollback_and_moves_the_checkout_only_when_accepted(
        gitworld: tuple[World, list[str]], services: list[Service], tmp_path: Path) -> None:
    world, (c0, _c1, c2) = gitworld
    state = tmp_path / "state"
    deployed(state, c2)
    service = start(world.host, state)  # the env key has every scope, rollback included
    services.append(service)

    resp = service.post("/run", {"name": "deploy_web", "sha": c0})

    assert resp.status_code == 200, resp.text
    assert git(world.host, "rev-parse", "HEAD") == c0
    record = service.get(resp.json()["links"]["self"]).json()
    assert (record["sha"], record["rollback_of"]) == (c0, c2)
    audit = service.get("/audit?limit=5").json()["records"]
    accepted = next(r for r in audit if r["decision"] == "accepted")
    assert f"rollback from {c2[:12]} to {c0[:12]}" in accepted["reason"]


# -- 2. bounded requests ----------------------------------------------------------------

@pytest.fixture
def plain(tmp_path: Path, services: list[Service]) -> Service:
    repo = tmp_path / "repo"
    (repo / "chatops" / "intents").mkdir(parents=True)
    (repo / "chatops" / "intents" / "deploy_web.yaml").write_text(
        INTENT.format(label="approved", stack="web"))
    service = start(repo, tmp_path / "state", env={
        "CHATOPS_HEAD_TIMEOUT": "1", "CHATOPS_MAX_CONNECTIONS_PER_ADDRESS": "8",
        "CHATOPS_IP_ALLOWLIST": "127.0.0.1/32,::1/128"})
    services.append(service)
    return service


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def test_oversized_heads_are_refused_with_414_or_431_without_being_read(plain: Service) -> None:
    line = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (64 * 1024 * 1024)
    assert status_of(raw_request(plain.port, line + b"\r\n\r\n")) == 431
    many = b"GET /healthz HTTP/1.1\r\n" + b"X-A: b\r\n" * 8000 + b"\r\n"
    assert status_of(raw_request(plain.port, many)) == 431
    assert status_of(raw_request(plain.port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n")) == 414
    # Just under the limits is fine.
    fits = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Ok: " + b"a" * 8000 + b"\r\n\r\n"
    assert status_of(raw_request(plain.port, fits)) == 200


def test_unfinished_huge_headers_do_not_grow_the_service(plain: Service) -> None:
    start_rss = plain.rss_kib()
    conns = []
    for _ in range(8):
        conn = socket.create_connection(("127.0.0.1", plain.port))
        conn.sendall(b"GET /healthz HTTP/1.1\r\nX-Big: ")
        conns.append(conn)
    chunk = b"a" * 65536
    for _ in range(256):  # 16 MiB each, never finished
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.sendall(chunk)
    grown = plain.rss_kib() - start_rss
    for conn in conns:
        conn.close()
    assert grown < 20 * 1024, f"the service grew by {grown} KiB"


def test_slow_heads_are_cut_at_the_deadline_and_idle_connections_closed(plain: Service) -> None:
    conn = socket.create_connection(("127.0.0.1", plain.port), timeout=10)
    began = time.monotonic()
    answer = b""
    with contextlib.suppress(OSError):
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\n":  # a byte every 100 ms
            conn.sendall(bytes([byte]))
            ready, _, _ = select.select([conn], [], [], 0.1)
            if ready:  # the service answered: stop sending, read it
                answer = conn.recv(1000)
                break
    conn.close()
    assert status_of(answer) == 408
    assert time.monotonic() - began < 6
    idle = socket.create_connection(("127.0.0.1", plain.port), timeout=10)
    assert idle.recv(10) == b""  # closed at the deadline, nothing sent
    idle.close()


def test_connections_past_the_per_address_cap_are_refused(plain: Service) -> None:
    held = [socket.create_connection(("127.0.0.1", plain.port)) for _ in range(8)]
    try:
        time.sleep(0.2)
        assert status_of(raw_request(plain.port, b"GET /healthz HTTP/1.1\r\n\r\n")) == 429
    finally:
        for conn in held:
            conn.close()
    time.sleep(0.3)
    assert plain.get("/healthz").status_code == 200


def test_an_address_outside_the_allowlist_is_refused_at_accept(plain: Service) -> None:
    huge = b"GET /run HTTP/1.1\r\nX-Big: " + b"a" * (4 * 1024 * 1024) + b"\r\n\r\n"
    answer = raw_request(plain.port, huge, source="127.0.0.2")
    assert status_of(answer) == 403
    assert b"address_not_allowed" in answer
    time.sleep(0.2)
    rows = plain.get("/audit?limit=20").json()["records"]
    assert any(r["endpoint"] == "(connection)" and r["client"] == "127.0.0.2" for r in rows)


# -- 3 and 6. secrets that are secrets, and a brake on key sprays ------------------------------

@pytest.mark.parametrize(("variable", "value", "says"), [
    ("CHATOPS_API_KEY", "1", "too short"),
    ("CHATOPS_API_KEY", "change-me-to-a-long-random-secret", "placeholder"),
    ("CHATOPS_GITHUB_WEBHOOK_SECRET", "", "is empty"),
    ("CHATOPS_GITHUB_TOKEN", "", "is empty"),
])
def test_the_service_refuses_to_start_with_a_weak_or_empty_secret(
        tmp_path: Path, variable: str, value: str, says: str) -> None:
    service = start(tmp_path, tmp_path / "state", env={variable: value}, wait=False)
    assert service.proc.wait(30) != 0
    err = service.stop()
    assert variable in err
    assert says in err
    assert "Traceback" not in err
    if len(value) > 8:  # the secret itself is never repeated back
        assert value not in err


def test_a_spray_of_wrong_keys_from_many_addresses_raises_an_alert_and_brakes(
        tmp_path: Path, services: list[Service]) -> None:
    service = start(tmp_path, tmp_path / "state", env={"CHATOPS_KEY_FAILURE_BUDGET": "20"})
    services.append(service)
    answers = []
    for host in range(2, 32):  # 30 addresses, two wrong keys each: under the lockout of 10
        for _ in range(2):
            resp = service.post("/run", {"name": "x"}, key=f"wrong-{host}",
                                source=f"127.0.0.{host}")
            answers.append(error(resp)[1])
    assert answers[:20] == ["invalid_key"] * 20
    assert "locked_out" in answers[25:]
    records = service.get("/audit?limit=200").json()["records"]
    alert = [r for r in records if r["decision"] == "alert"]
    assert len(alert) == 1
    assert "key_spray" in alert[0]["reason"]
    metrics = service.get("/metrics", key=None).text
    assert 'chatops_rejected_requests_total{reason="key_spray"} 1.0' in metrics


# -- 4. replays by content ----------------------------------------------------------------------

def test_a_signed_push_replayed_with_a_new_delivery_id_is_refused(
        gitworld: tuple[World, list[str]], services: list[Service], tmp_path: Path) -> None:
    world, (_, _, c2) = gitworld
    github = FakeGitHub().start()
    try:
        secret = "webhook-secret-" + uuid.uuid4().hex
        service = start(world.host, tmp_path / "state", env={
            "CHATOPS_GITHUB_REPO": github.repo, "CHATOPS_GITHUB_TOKEN": github.token,
            "CHATOPS_GITHUB_API": github.api, "CHATOPS_GITHUB_WEBHOOK_SECRET": secret,
            "APPROVED_LABEL": ""})
        services.append(service)
        c3 = world.commit({"README.md": "docs only\n"})
        raw = json.dumps({"ref": "refs/heads/main", "before": c2, "after": c3,
                          "forced": False, "sender": {"login": "alice"}}).encode()

        def deliver() -> httpx.Response:
            return httpx.post(service.url + "/webhooks/github", content=raw, headers={
                "content-type": "application/json", "x-github-event": "push",
                "x-github-delivery": str(uuid.uuid4()),
                "x-hub-signature-256": sign(secret.encode(), raw)})

        first = deliver()
        assert first.status_code == 202, first.text
        again = deliver()
        assert error(again) == (409, "replayed_delivery")
        assert "processed before" in again.json()["error"]["message"]
        rows = service.get("/audit?limit=20").json()["records"]
        assert any(r["reason"] and r["reason"].startswith("replayed_delivery") for r in rows)
    finally:
        github.stop()


# -- 5. names at the edge -----------------------------------------------------------------------

def test_very_long_intent_names_are_422_never_500(plain: Service) -> None:
    name = "a" * 251
    assert error(plain.get(f"/intents/{name}")) == (422, "invalid_intent_name")
    assert error(plain.post("/orchestrate", {"intents": [name]})) == (422, "invalid_intent_name")
    assert error(plain.post("/run", {"name": "b" * 199})) == (422, "invalid_intent_name")
    err = plain.stop()
    assert "Traceback" not in err
    assert "internal error" not in err


# -- 7. one service per state directory; no request unaudited --------------------------------

def test_a_second_service_on_the_same_state_directory_exits_naming_the_first(
        plain: Service) -> None:
    second = start(plain.repo, plain.state, wait=False)
    assert second.proc.wait(30) != 0
    err = second.stop()
    assert f"pid {plain.proc.pid}" in err
    assert str(plain.state) in err


def test_when_the_audit_trail_cannot_be_written_requests_are_refused_not_unaudited(
        plain: Service) -> None:
    assert plain.get("/runs").status_code == 200
    db = sqlite3.connect(plain.state / "audit.sqlite3")
    db.execute("ALTER TABLE audit RENAME TO audit_moved")
    db.commit()
    try:
        time.sleep(0.2)  # the flusher meets the failure
        assert error(plain.post("/run", {"name": "deploy_web"})) == (503, "audit_unavailable")
        assert error(plain.get("/runs")) == (503, "audit_unavailable")
        assert plain.get("/runs?limit=1").status_code == 503
    finally:
        db.execute("ALTER TABLE audit_moved RENAME TO audit")
        db.commit()
        db.close()
    assert plain.get("/runs").status_code == 200
    verify = subprocess.run([sys.executable, "-m", "chatops", "audit", "verify"],
                            env=plain.env, capture_output=True, text=True, check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr


# -- 8 and 9. idempotency bound to content; header values as HTTP reads them -----------------

def test_an_idempotency_key_reused_for_another_body_is_422(plain: Service) -> None:
    idem = {"Idempotency-Key": "ci-run-42"}
    first = plain.post("/run", {"name": "deploy_web"}, **idem)
    assert first.status_code == 200, first.text
    again = plain.post("/run", {"name": "deploy_web"}, **idem)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["idempotent_replay"] is True
    other = plain.post("/run", {"name": "deploy_web", "queue": False}, **idem)
    assert error(other) == (422, "idempotency_key_reused")


def test_keys_with_spaces_around_them_work_in_every_header_alike(plain: Service) -> None:
    for header in (b"X-API-Key: " + KEY.encode() + b"   ",
                   b"X-API-Key:\t" + KEY.encode() + b" \t",
                   b"Authorization: Bearer " + KEY.encode() + b"   "):
        answer = raw_request(plain.port, b"GET /runs HTTP/1.1\r\nHost: x\r\n" + header
                             + b"\r\n\r\n")
        assert status_of(answer) == 200, answer[:200]
    rows = plain.get("/audit?limit=50").json()["records"]
    assert not any(r["reason"] == "invalid_key" for r in rows)


# -- 10. the description matches the service ---------------------------------------------------

def test_405_carries_allow_and_head_works_where_get_does(plain: Service) -> None:
    wrong = plain.get("/run")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    assert plain.get("/runs", method="DELETE").headers["allow"] == "GET, HEAD"
    for path in ("/runs", "/healthz", "/intents"):
        head, get = plain.get(path, method="HEAD"), plain.get(path)
        assert head.status_code == get.status_code == 200
        assert head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"]
