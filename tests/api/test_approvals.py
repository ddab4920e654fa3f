"""Approvals against a real ``chatops serve``: a run of an intent with an ``approval``
block waits as ``awaiting_approval``; the bots post the question with buttons (to
loopback stand-ins of Discord's and Slack's APIs); clicks come back signed with a
generated Ed25519 key and a Slack signing secret; the API and the CLI take the same
words through the same checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests import served
from tests.api.test_chat import APP_ID, SLACK_SECRET, audit, command, discord, slack
from tests.fakes.recorder import Recorder

CHANNEL = "998877665544332211"
BOT = "bot-token-" + "b" * 40
SLACK_BOT = "xoxb-" + "s" * 40
GRANTS = json.dumps({
    "discord:user:111": {"scopes": ["run", "read", "approve"]},
    "discord:role:ops": {"scopes": ["approve", "read"]},
    "discord:user:333": {"scopes": ["approve", "read"]},
    "slack:group:S1": {"scopes": ["approve", "read"]},
    "slack:user:U9": {"scopes": ["approve", "read"], "intents": "other_*"},
})


def write_intent(repo: Path, approval: str) -> None:
    (repo / "chatops" / "intents").mkdir(parents=True, exist_ok=True)
    (repo / "chatops" / "intents" / "deploy_web.yaml").write_text(
        "label_required: approved\naction: pull\nstack: web\napproval:\n" + approval)


def platform_answers(path: str, body: object) -> dict:
    if path.startswith("/channels/"):
        return {"id": "5550001", "channel_id": CHANNEL}
    if path.startswith("/chat.postMessage"):
        return {"ok": True, "channel": "C0APPROVE", "ts": "1700000000.000100"}
    if path.startswith("/usergroups.list"):
        return {"ok": True, "usergroups": [{"id": "S1", "users": ["U1", "U2"]},
                                           {"id": "S2", "users": ["U9"]}]}
    return {"ok": True}


@pytest.fixture
def approvals(tmp_path: Path):
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    platform = Recorder({"/": platform_answers})
    repo = tmp_path / "repo"
    write_intent(repo, '  approvers: ["discord:user:111", "discord:role:ops", '
                 '"key:release", "slack:group:S1"]\n  min: 2\n')
    state = tmp_path / "state"
    env = {**os.environ, "CHATOPS_STATE_DIR": str(state)}
    release = subprocess.run([sys.executable, "-m", "chatops", "keys", "create", "release",
                              "--approve"], env=env, capture_output=True, text=True,
                             check=True).stdout.strip()
    service = served.start(repo, state, env={
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",
        "CHATOPS_DISCORD_PUBLIC_KEY": public, "CHATOPS_DISCORD_APPLICATION_ID": APP_ID,
        "CHATOPS_DISCORD_API": platform.url, "CHATOPS_DISCORD_BOT_TOKEN": BOT,
        "CHATOPS_DISCORD_APPROVAL_CHANNEL": CHANNEL,
        "CHATOPS_SLACK_SIGNING_SECRET": SLACK_SECRET, "CHATOPS_SLACK_BOT_TOKEN": SLACK_BOT,
        "CHATOPS_SLACK_API": platform.url, "CHATOPS_SLACK_APPROVAL_CHANNEL": "C0APPROVE",
        "CHATOPS_CHAT_IDENTITIES": GRANTS})
    try:
        yield service, key, platform, release
    finally:
        service.stop()
        platform.stop()


def run_of(service: served.Service, run_id: str) -> dict:
    return service.get(f"/runs/{run_id}").json()


def settled(service: served.Service, run_id: str, deadline: float = 20.0) -> dict:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        run = run_of(service, run_id)
        if run["status"] not in ("awaiting_approval", "queued", "running"):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not end: {run_of(service, run_id)}")


def click(custom_id: str, user: str, roles: list[str] | None = None,
          content: str = "question") -> dict:
    return {"type": 3, "token": "tok-click", "application_id": APP_ID,
            "member": {"user": {"id": user}, "roles": roles or []},
            "message": {"content": content, "components": [{"type": 1, "components": []}]},
            "data": {"component_type": 2, "custom_id": custom_id}}


def test_a_run_waits_and_the_bots_ask_with_buttons(approvals) -> None:
    service, key, platform, _ = approvals
    answer = discord(service, key, command("deploy", intent="deploy_web")).json()
    run_id = answer["data"]["content"].split("`")[1]
    run = run_of(service, run_id)
    assert run["status"] == "awaiting_approval"
    assert run["approval"]["min"] == 2
    assert run["approval"]["votes"] == []
    assert run["steps"] == []  # nothing ran, nothing changed

    # The bot asked, in the approval channel, with two buttons naming the run.
    method, _, posted = platform.wait_for("Approval needed",
                                          path=f"/channels/{CHANNEL}/messages")
    assert method == "POST"
    assert f"deploy_web (run `{run_id}`), asked by discord:user:111 via chat" in \
        posted["content"]
    buttons = posted["components"][0]["components"]
    assert [b["label"] for b in buttons] == ["Approve", "Deny"]
    assert buttons[0]["custom_id"] == f"approve:{run_id}:-"
    assert f"Bot {BOT}" in platform.authorizations
    # Slack's bot asked too, with the bot token.
    platform.wait_for("actions", path="/chat.postMessage")
    assert f"Bearer {SLACK_BOT}" in platform.authorizations


def test_refusals_then_two_approvers_and_the_run_starts(approvals) -> None:
    service, key, platform, release = approvals
    answer = discord(service, key, command("deploy", intent="deploy_web")).json()
    run_id = answer["data"]["content"].split("`")[1]
    # Who asked may not approve (self_approve is false); one without the grant neither.
    own = discord(service, key, click(f"approve:{run_id}:-", "111")).json()
    assert own["type"] == 4
    assert own["data"]["flags"] == 64
    assert "discord:user:111 asked for run" in own["data"]["content"]
    stranger = discord(service, key, click(f"approve:{run_id}:-", "444")).json()
    assert "discord:user:444 may not approve runs" in stranger["data"]["content"]
    # One listed by grant but not among the intent's approvers.
    outsider = discord(service, key, click(f"approve:{run_id}:-", "333")).json()
    assert "discord:user:333 is not among the approvers of 'deploy_web'" in \
        outsider["data"]["content"]
    reasons = [r["reason"] or "" for r in audit(service)]
    assert any(r.startswith("self_approval") for r in reasons)
    refused = {r["key_name"] for r in audit(service) if r["decision"] == "refused"}
    assert {"discord:user:111", "discord:user:444", "discord:user:333"} <= refused
    assert run_of(service, run_id)["approval"]["votes"] == []

    # An approver of the ops role: one of two; the buttons stay. Twice counts once.
    first = discord(service, key, click(f"approve:{run_id}:-", "222", ["ops"])).json()
    assert first["type"] == 7
    assert "1 of 2 approval(s): discord:user:222" in first["data"]["content"]
    assert first["data"]["components"]
    again = discord(service, key, click(f"approve:{run_id}:-", "222", ["ops"],
                                        content=first["data"]["content"])).json()
    assert "(your word was counted already)" in again["data"]["content"]
    assert again["data"]["content"].count("—") == 1  # the tally replaced, not appended
    assert run_of(service, run_id)["status"] == "awaiting_approval"

    # The second approver, an API key: the run starts (and fails: no Docker here).
    second = service.post(f"/runs/{run_id}/approve", {}, key=release)
    assert second.status_code == 200, second.text
    assert second.json()["counted"] is True
    done = settled(service, run_id)
    assert done["status"] == "failed"
    assert done["steps"]  # it ran
    votes = done["approval"]["votes"]
    assert [(v["who"], v["verdict"], v["via"]) for v in votes] == [
        ("discord:user:222", "approve", "chat"), ("release", "approve", "api")]
    assert all(v["at"] for v in votes)
    # The question was edited: the outcome, without buttons.
    method, _, edited = platform.wait_for("of deploy_web: failed",
                                          path=f"/channels/{CHANNEL}/messages/5550001")
    assert method == "PATCH"
    assert edited["components"] == []
    # Each word is in the audit trail, refusals naming who.
    records = audit(service)
    reasons = [r["reason"] or "" for r in records]
    assert any(r.startswith(f"approve run {run_id}") and "1 of 2" in r for r in reasons)
    # A late word on a decided run is refused, naming its status.
    late = discord(service, key, click(f"deny:{run_id}:-", "222", ["ops"])).json()
    assert "is failed" in late["data"]["content"]
    assert "no longer waits for approval" in late["data"]["content"]
    # The secrets never reached the audit trail.
    assert BOT not in json.dumps(records)
    assert SLACK_BOT not in json.dumps(records)


def test_deny_expiry_and_a_second_request_of_the_same_run(approvals, tmp_path) -> None:
    service, _, platform, release = approvals
    first = service.post("/run", {"name": "deploy_web"})
    assert first.status_code == 200, first.text
    run_id = first.json()["id"]
    assert first.json()["status"] == "awaiting_approval"
    # The same run again while one waits: refused, pointing at it.
    twice = service.post("/run", {"name": "deploy_web"})
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "already_awaiting_approval"
    assert run_id in twice.json()["error"]["message"]
    # A word for another commit is refused; the key without the scope too.
    other = service.post(f"/runs/{run_id}/approve", {"sha": "abcdef1"}, key=release)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "approval_for_other_commit"
    bad = service.post(f"/runs/{run_id}/approve", {"sha": "nope"}, key=release)
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "sha"
    env_key = service.post(f"/runs/{run_id}/approve", {})
    assert env_key.status_code == 403
    # A deny ends it at once: nothing ran.
    denied = service.post(f"/runs/{run_id}/deny", {}, key=release)
    assert denied.status_code == 200
    run = settled(service, run_id)
    assert run["status"] == "denied"
    assert run["reason"] == "denied by release via api; nothing was changed"
    assert run["steps"] == []
    platform.wait_for("⛔ denied: run")
    late = service.post(f"/runs/{run_id}/approve", {}, key=release)
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "not_awaiting_approval"

    # A short ttl: the run ends expired, nothing ran.
    write_intent(service.repo, '  approvers: ["key:release"]\n  ttl: 1s\n')
    short = service.post("/run", {"name": "deploy_web"}).json()["id"]
    run = settled(service, short)
    assert run["status"] == "expired"
    assert run["reason"] == "0 of 1 approval(s) within 1s; nothing was changed"
    assert run["steps"] == []


def test_the_cli_approves_through_the_service(approvals) -> None:
    service, _, _, _ = approvals
    run_id = service.post("/run", {"name": "deploy_web"}).json()["id"]
    env = {**service.env, "USER": "ops-on-host"}
    for _ in range(2):  # the host's operator stands for every approver, once
        done = subprocess.run([sys.executable, "-m", "chatops", "approve", run_id],
                              env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "counted already" in done.stdout
    wrong = subprocess.run([sys.executable, "-m", "chatops", "deny", run_id, "--sha",
                            "1234567"], env=env, capture_output=True, text=True, check=False)
    assert wrong.returncode != 0
    assert "is for commit 1234567" in wrong.stderr
    run = run_of(service, run_id)
    assert [(v["who"], v["via"]) for v in run["approval"]["votes"]] == [("ops-on-host", "cli")]


def test_slack_buttons_and_user_groups(approvals) -> None:
    service, _, platform, _ = approvals
    run_id = service.post("/run", {"name": "deploy_web"}).json()["id"]
    _, path, posted = platform.wait_for("chatops-approval")
    assert path == "/chat.postMessage"
    approve = posted["blocks"][1]["elements"][0]
    assert approve["value"] == f"approve:{run_id}:-"

    def payload(user: str, value: str) -> dict:
        return {"payload": json.dumps({
            "type": "block_actions", "user": {"id": user},
            "actions": [{"action_id": value.split(":", maxsplit=1)[0], "value": value}],
            "response_url": platform.url + f"/slack/actions/{user}",
            "message": {"text": posted["text"], "blocks": posted["blocks"]}})}

    # U9's grant does not reach this intent; U2 is in group S1, one of the approvers.
    assert slack(service, payload("U9", f"approve:{run_id}:-")).status_code == 200
    _, _, refused = platform.wait_for("may approve intents matching 'other_*'")
    assert refused["response_type"] == "ephemeral"
    assert slack(service, payload("U2", f"approve:{run_id}:-")).status_code == 200
    _, path, replaced = platform.wait_for("1 of 2 approval(s): slack:user:U2")
    assert path == "/slack/actions/U2"
    assert replaced["replace_original"] is True
    assert run_of(service, run_id)["approval"]["votes"][0]["who"] == "slack:user:U2"
    # A tampered click is refused before anything is read.
    form = payload("U1", f"approve:{run_id}:-")
    assert httpx.post(service.url + "/chat/slack", data=form).status_code == 401
    assert run_of(service, run_id)["status"] == "awaiting_approval"


def test_a_cli_run_waits_in_its_own_process_for_a_word_from_another(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_intent(repo, '  approvers: ["key:release"]\n')
    env = {**os.environ, "CHATOPS_STATE_DIR": str(tmp_path / "state"), "USER": "alice",
           "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    env.pop("CHATOPS_CONFIG", None)
    waiting = subprocess.Popen([sys.executable, "-m", "chatops", "run", "deploy_web",
                                "--repo", str(repo), "--local"], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert waiting.stderr is not None
        line = waiting.stderr.readline()
        assert "waits for its approvals" in line, line
        run_id = line.split()[1]
        # The one who asked may not approve; another operator on the host may.
        own = subprocess.run([sys.executable, "-m", "chatops", "approve", run_id, "--local"],
                             env=env, capture_output=True, text=True, check=False)
        assert own.returncode == 4
        assert "alice asked for run" in own.stderr
        other = subprocess.run([sys.executable, "-m", "chatops", "approve", run_id,
                                "--local"], env={**env, "USER": "bob"}, capture_output=True,
                               text=True, check=False)
        assert other.returncode == 0, other.stderr
        assert "approved: 1 of 1 approval(s): bob" in other.stdout
        # The waiting process saw the word, ran the intent (no Docker here: it fails).
        assert waiting.wait(60) == 1
    finally:
        if waiting.poll() is None:
            waiting.kill()


def test_a_rolling_deploy_is_approved_once_then_rolls(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "chatops" / "intents").mkdir(parents=True)
    (repo / "stacks" / "web").mkdir(parents=True)
    (repo / "stacks" / "web" / "docker-compose.yml").write_text(
        "services:\n  web:\n    image: nginx:1.27\n")
    (repo / "chatops" / "intents" / "roll_web.yaml").write_text(
        "label_required: approved\naction: rollout\nstack: web\nhosts: [a, b]\n"
        "approval:\n  approvers: [\"key:release\"]\n")
    state = tmp_path / "state"
    env = {**os.environ, "CHATOPS_STATE_DIR": str(state)}
    release = subprocess.run([sys.executable, "-m", "chatops", "keys", "create", "release",
                              "--approve"], env=env, capture_output=True, text=True,
                             check=True).stdout.strip()
    # Two hosts whose engines are not there: the roll stops at the first, named.
    hosts = {"a": f"unix://{tmp_path}/a.sock", "b": f"unix://{tmp_path}/b.sock"}
    service = served.start(repo, state, env={"CHATOPS_HOSTS": json.dumps(hosts)})
    try:
        asked = service.post("/run", {"name": "roll_web"}).json()
        assert asked["status"] == "awaiting_approval"
        assert asked["stacks"] == ["web@a", "web@b"]
        assert service.get("/runs").json()["runs"][0]["id"] == asked["id"]  # no child yet
        assert service.post(f"/runs/{asked['id']}/approve", {}, key=release).status_code \
            == 200
        done = settled(service, asked["id"])
        assert done["status"] == "failed"
        assert done["reason"].startswith("stopped at a | a: failed (run ")
        assert "host a cannot be reached" in done["reason"]
        assert done["reason"].endswith(" | b: not started")
        assert [c["stacks"] for c in service.get(f"/runs/{asked['id']}").json()["children"]] \
            == [["web@a"]]
    finally:
        service.stop()
