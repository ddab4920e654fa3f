"""Chat commands against a real ``chatops serve``: Discord interactions signed with a
generated Ed25519 key, Slack slash commands signed with a signing secret; the platforms'
follow-up endpoints are loopback stand-ins."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests import served
from tests.fakes.recorder import Recorder

SLACK_SECRET = "slack-signing-secret-" + "x7Kq2" * 4
APP_ID = "123456789012345678"
GRANTS = json.dumps({
    "discord:user:111": {"scopes": ["run", "read"]},
    "discord:role:ops": {"scopes": ["read"]},
    "slack:user:U1": {"scopes": ["run", "read"], "intents": "deploy_*"},
})


@pytest.fixture
def chat(tmp_path: Path):
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    platform = Recorder()
    repo = tmp_path / "repo"
    (repo / "chatops" / "intents").mkdir(parents=True)
    (repo / "chatops" / "intents" / "deploy_web.yaml").write_text(
        "label_required: approved\naction: pull\nstack: web\n")
    service = served.start(repo, tmp_path / "state", env={
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",
        "CHATOPS_DISCORD_PUBLIC_KEY": public, "CHATOPS_DISCORD_APPLICATION_ID": APP_ID,
        "CHATOPS_DISCORD_API": platform.url, "CHATOPS_SLACK_SIGNING_SECRET": SLACK_SECRET,
        "CHATOPS_CHAT_IDENTITIES": GRANTS})
    try:
        yield service, key, platform
    finally:
        service.stop()
        platform.stop()


def discord(service: served.Service, key: Ed25519PrivateKey, interaction: dict,
            *, tamper: bool = False, stamp: str | None = None) -> httpx.Response:
    """Sent as Discord sends it: every interaction with an id of its own, signed now."""
    interaction = {"id": str(uuid.uuid4().int % 10**18), **interaction}
    body = json.dumps(interaction).encode()
    stamp = stamp if stamp is not None else str(int(time.time()))
    signature = key.sign(stamp.encode() + body).hex()
    if tamper:
        body = body.replace(b"deploy_web", b"deploy_xyz")
    return httpx.post(service.url + "/chat/discord", content=body, timeout=30, headers={
        "content-type": "application/json", "x-signature-ed25519": signature,
        "x-signature-timestamp": stamp})


def command(name: str, user: str = "111", roles: list[str] | None = None,
            **options: str) -> dict:
    return {"type": 2, "token": "tok-" + name, "application_id": APP_ID,
            "member": {"user": {"id": user}, "roles": roles or []},
            "data": {"name": name, "options": [{"name": k, "value": v}
                                               for k, v in options.items()]}}


def audit(service: served.Service) -> list[dict]:
    return service.get("/audit?limit=100").json()["records"]


def test_discord_ping_signature_and_commands(chat) -> None:
    service, key, platform = chat
    assert discord(service, key, {"type": 1}).json() == {"type": 1}
    # A body changed after signing is refused, and recorded.
    bad = discord(service, key, command("deploy", intent="deploy_web"), tamper=True)
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "bad_signature"
    assert any(r["endpoint"] == "/chat/discord" and r["decision"] == "refused"
               for r in audit(service))
    # Read commands answer at once, only to the one who asked.
    runs = discord(service, key, command("runs")).json()
    assert runs == {"type": 4, "data": {"content": "no runs recorded yet", "flags": 64}}
    choices = discord(service, key, {"type": 4, "data": {"name": "deploy", "options": [
        {"name": "intent", "value": "web", "focused": True}]}}).json()
    assert choices == {"type": 8, "data": {"choices": [{"name": "deploy_web",
                                                        "value": "deploy_web"}]}}
    # A deploy is accepted at once; its outcome edits the message afterwards.
    answer = discord(service, key, command("deploy", intent="deploy_web")).json()
    assert answer["type"] == 4
    assert answer["data"]["content"].startswith("🚀 deploying deploy_web (run `")
    method, path, body = platform.wait_for("failed")
    assert (method, path) == ("PATCH", f"/webhooks/{APP_ID}/tok-deploy/messages/@original")
    assert "deploy_web on web: failed" in body["content"]
    run = service.get("/runs").json()["runs"][0]
    assert (run["trigger"], run["actor"]) == ("chat", "discord:user:111")


def test_a_discord_user_without_the_scope_is_refused_and_audited(chat) -> None:
    service, key, _ = chat
    # Only the read role: no deploys.
    answer = discord(service, key, command("deploy", user="222", roles=["ops"],
                                           intent="deploy_web")).json()
    assert answer["data"]["flags"] == 64
    assert "discord:user:222 may not start runs (scopes: read)" in answer["data"]["content"]
    # Nobody at all: not even read.
    nobody = discord(service, key, command("status", user="333")).json()
    assert "discord:user:333 lacks the 'read' scope" in nobody["data"]["content"]
    refusals = [r for r in audit(service) if r["decision"] == "refused"
                and r["endpoint"] == "/chat/discord"]
    assert {r["key_name"] for r in refusals} >= {"discord:user:222", "discord:user:333"}
    assert service.get("/runs").json()["runs"] == []


def slack(service: served.Service, form: dict, *, stamp: int | None = None,
          secret: str = SLACK_SECRET) -> httpx.Response:
    body = urlencode(form).encode()
    ts = str(stamp if stamp is not None else int(time.time()))
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:".encode() + body,
                                 hashlib.sha256).hexdigest()
    return httpx.post(service.url + "/chat/slack", content=body, timeout=30, headers={
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": ts, "x-slack-signature": signature})


def test_slack_slash_commands_are_signed_acknowledged_and_followed(chat) -> None:
    service, _, platform = chat
    form = {"command": "/deploy", "text": "deploy_web", "user_id": "U1",
            "response_url": platform.url + "/slack/response"}
    assert slack(service, form, secret="not-the-secret").status_code == 401
    old = slack(service, form, stamp=int(time.time()) - 600)
    assert old.status_code == 401
    assert "more than 5 minutes off" in old.json()["error"]["message"]

    answer = slack(service, form).json()

    assert answer["response_type"] == "in_channel"
    assert answer["text"].startswith("🚀 deploying deploy_web (run `")
    method, path, body = platform.wait_for("failed")
    assert (method, path) == ("POST", "/slack/response")
    assert "deploy_web on web: failed" in body["text"]
    # Another user of the workspace has no grant.
    denied = slack(service, {**form, "user_id": "U2"}).json()
    assert denied["response_type"] == "ephemeral"
    assert "slack:user:U2 may not start runs" in denied["text"]
    plan = slack(service, {**form, "command": "/plan"}).json()
    assert "Plan for intent deploy_web" in plan["text"]


def test_chat_endpoints_are_not_found_until_configured(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "chatops" / "intents").mkdir(parents=True)
    service = served.start(repo, tmp_path / "state")
    try:
        assert httpx.post(service.url + "/chat/discord", json={"type": 1}).status_code == 404
        assert httpx.post(service.url + "/chat/slack", content=b"x").status_code == 404
    finally:
        service.stop()


def test_unknown_commands_and_options_get_their_usage(chat) -> None:
    service, key, _ = chat
    unknown = discord(service, key, command("reboot")).json()["data"]["content"]
    assert unknown == "unknown command 'reboot'; the commands are deploy, rollback, " \
        "status, runs, plan"
    extra = discord(service, key, command("deploy", intent="deploy_web", force="yes"))
    assert extra.json()["data"]["content"] == \
        "⛔ unknown option 'force'; usage: deploy intent [sha]"
    missing = discord(service, key, command("plan")).json()["data"]["content"]
    assert missing == "⛔ missing intent; usage: plan intent [sha]"
    stacks = discord(service, key, {"type": 4, "data": {"name": "rollback", "options": [
        {"name": "stack", "value": "w", "focused": True}]}}).json()
    assert stacks["data"]["choices"] == [{"name": "web", "value": "web"}]


def test_chat_register_sends_the_commands_to_discord(cli, monkeypatch) -> None:
    platform = Recorder()
    monkeypatch.setenv("CHATOPS_DISCORD_API", platform.url)
    monkeypatch.setenv("CHATOPS_DISCORD_APPLICATION_ID", APP_ID)
    monkeypatch.setenv("CHATOPS_DISCORD_BOT_TOKEN", "bot-token-" + "z" * 30)
    try:
        done = cli("chat", "register")
    finally:
        platform.stop()
    assert done.code == 0, done.err
    assert done.out == "registered 5 commands: /deploy, /rollback, /status, /runs, /plan\n"
    ((method, path, body),) = platform.requests
    assert (method, path) == ("PUT", f"/applications/{APP_ID}/commands")
    assert [c["name"] for c in body] == ["deploy", "rollback", "status", "runs", "plan"]
    monkeypatch.delenv("CHATOPS_DISCORD_BOT_TOKEN")
    refused = cli("chat", "register")
    assert refused.code == 4
    assert "CHATOPS_DISCORD_BOT_TOKEN not set" in refused.err


def test_a_flood_of_commands_from_one_person_is_refused_and_audited(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    repo = tmp_path / "repo"
    (repo / "chatops" / "intents").mkdir(parents=True)
    service = served.start(repo, tmp_path / "state", env={
        "CHATOPS_DISCORD_PUBLIC_KEY": public, "CHATOPS_CHAT_IDENTITIES": GRANTS,
        "CHATOPS_RATE_PER_KEY": "0.1", "CHATOPS_BURST_PER_KEY": "3"})
    try:
        answers = [discord(service, key, command("runs")).json()["data"]["content"]
                   for _ in range(5)]
        other = discord(service, key, command("runs", user="222", roles=["ops"])).json()
        records = audit(service)
    finally:
        service.stop()
    assert answers[:3] == ["no runs recorded yet"] * 3
    assert all(a.startswith("⛔ too many commands from discord:user:111; try again in ")
               for a in answers[3:])
    assert other["data"]["content"] == "no runs recorded yet"  # each person their own
    limited = [r for r in records if r["status"] == 429 and r["endpoint"] == "/chat/discord"]
    assert [r["key_name"] for r in limited] == ["discord:user:111"] * 2


def send_signed(service: served.Service, key: Ed25519PrivateKey, body: bytes,
                stamp: str) -> httpx.Response:
    return httpx.post(service.url + "/chat/discord", content=body, timeout=30, headers={
        "content-type": "application/json", "x-signature-timestamp": stamp,
        "x-signature-ed25519": key.sign(stamp.encode() + body).hex()})


def test_a_discord_interaction_is_refused_when_replayed_or_stale(chat) -> None:
    service, key, _ = chat
    deploy = json.dumps({"id": "991122334455667788", **command(
        "deploy", intent="deploy_web")}).encode()
    now = str(int(time.time()))
    assert send_signed(service, key, deploy, now).json()["type"] == 4
    again = send_signed(service, key, deploy, now)
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "replayed_request"
    # The same interaction id signed anew is the same interaction: refused too.
    later = send_signed(service, key, deploy, str(int(time.time()) + 1))
    assert later.json()["error"]["code"] == "replayed_request"
    assert len(service.get("/runs").json()["runs"]) == 1
    ping = json.dumps({"type": 1, "id": "1"}).encode()
    for stamp, says in [(str(int(time.time()) - 3600), "more than 5 minutes off"),
                        (str(int(time.time()) - 30 * 86400), "more than 5 minutes off"),
                        (str(int(time.time()) + 3600), "more than 5 minutes off"),
                        ("nan", "not a number"), ("inf", "not a number")]:
        answer = send_signed(service, key, ping, stamp)
        assert answer.status_code == 401, stamp
        assert says in answer.json()["error"]["message"], stamp
    reasons = [r["reason"] or "" for r in audit(service) if r["endpoint"] == "/chat/discord"]
    assert sum(r.startswith("replayed_request") for r in reasons) == 2
    assert sum("5 minutes off" in r for r in reasons) == 3


def test_a_slack_command_is_refused_when_replayed_or_its_timestamp_is_not_a_number(
        chat) -> None:
    service, _, platform = chat
    form = {"command": "/deploy", "text": "deploy_web", "user_id": "U1",
            "response_url": platform.url + "/slack/response"}
    stamp = int(time.time())
    assert slack(service, form, stamp=stamp).status_code == 200
    again = slack(service, form, stamp=stamp)
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "replayed_request"
    assert len(service.get("/runs").json()["runs"]) == 1
    body = urlencode(form).encode()
    signature = "v0=" + hmac.new(SLACK_SECRET.encode(), b"v0:nan:" + body,
                                 hashlib.sha256).hexdigest()
    nan = httpx.post(service.url + "/chat/slack", content=body, headers={
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": "nan", "x-slack-signature": signature})
    assert nan.status_code == 401
    assert "not a number" in nan.json()["error"]["message"]
    assert any((r["reason"] or "").startswith("replayed_request") for r in audit(service)
               if r["endpoint"] == "/chat/slack")


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("CHATOPS_SLACK_SIGNING_SECRET", "change-me", "placeholder"),
    ("CHATOPS_SLACK_SIGNING_SECRET", "1", "too short"),
    ("CHATOPS_DISCORD_PUBLIC_KEY", "0" * 64, "placeholder"),
    ("CHATOPS_DISCORD_PUBLIC_KEY", "abc", "string should match pattern"),
])
def test_the_service_refuses_to_start_with_a_weak_chat_secret(
        tmp_path: Path, variable: str, value: str, says: str) -> None:
    service = served.start(tmp_path, tmp_path / "state", env={variable: value}, wait=False)
    assert service.proc.wait(30) != 0
    err = service.stop()
    assert variable in err
    assert says in err.lower()
    assert "Traceback" not in err
