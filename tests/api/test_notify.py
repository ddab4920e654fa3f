"""A rollout through the API produces the seed's Discord message, sent from the outbox."""

from __future__ import annotations

import re
import time

import pytest

from tests.fakes.discord import FakeDiscord

WEBHOOK = "https://discord.com/api/webhooks/417429632418316298/token-abc_DEF"


@pytest.fixture
def discord(fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> FakeDiscord:
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", WEBHOOK)
    return fake_discord


def wait_for(condition, timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_api_rollout_posts_the_seeds_discord_message(
    make_api, discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHATOPS_PUBLIC_URL", "http://whitebox.ts.net:8000/")
    api = make_api()
    resp = api.post_run({"name": "deploy_web", "wait": True})
    assert resp.status_code == 200
    wait_for(lambda: len(discord.messages) == 1)
    embed = discord.messages[0]["embeds"][0]
    assert embed["title"] == "🤖 ChatOps Audit"
    headline = re.sub(r"\\(.)", r"\1", embed["description"]).splitlines()[0]
    assert headline == "✅ SUCCESS: rollout on stack web (intent: deploy_web)"
    run = next(f["value"] for f in embed["fields"] if f["name"] == "Run")
    assert f"http://whitebox.ts.net:8000/runs/{resp.json()['id']}" in run
    assert discord.refused == []


def test_a_dead_discord_never_delays_the_answer_and_the_message_arrives_later(
    make_api, discord: FakeDiscord,
) -> None:
    discord.answers += [("500", 0), ("500", 0)]
    api = make_api()
    start = time.monotonic()
    resp = api.post_run({"name": "deploy_web", "wait": True})
    assert resp.status_code == 200
    assert time.monotonic() - start < 10
    wait_for(lambda: len(discord.messages) == 1, timeout=20)
    assert discord.requests >= 2
    assert len(discord.messages) == 1


def test_the_webhook_token_is_never_stored(make_api, discord: FakeDiscord) -> None:
    api = make_api()
    api.post_run({"name": "deploy_web", "wait": True})
    wait_for(lambda: len(discord.messages) == 1)
    for db in api.state.glob("*.sqlite3"):
        assert b"token-abc_DEF" not in db.read_bytes(), db


def test_notify_test_reaches_discord(cli, discord: FakeDiscord) -> None:
    result = cli("notify", "test")
    assert result.code == 0, result.out + result.err
    assert "✓ apprise-https-" in result.out
    assert "🔔 TEST" in discord.messages[0]["embeds"][0]["description"]


def test_notify_test_without_targets(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISCORD_WEBHOOK_URL", raising=False)
    result = cli("notify", "test")
    assert result.code == 4
    assert "no notification target is configured" in result.err


def test_notify_on_and_tags_choose_what_is_announced_where(
    make_api, discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHATOPS_NOTIFY_URLS",
                       "ops=https://discord.com/api/webhooks/2/ops-token")
    api = make_api(intents={
        "quiet": "label_required: approved\naction: rollout\nstack: web\n"
                 "notify_on: [failure, rollback]\n",
        "tagged": "label_required: approved\naction: rollout\nstack: web\nnotify: [ops]\n",
        "plain": "label_required: approved\naction: rollout\nstack: web\n",
    })
    assert api.post_run({"name": "quiet", "wait": True}).status_code == 200
    assert api.post_run({"name": "tagged", "wait": True}).status_code == 200
    wait_for(lambda: len(discord.messages) == 2)
    assert sorted(discord.paths) == ["/api/webhooks/2/ops-token",
                                     "/api/webhooks/417429632418316298/token-abc_DEF"]
    assert api.post_run({"name": "plain", "wait": True}).status_code == 200
    wait_for(lambda: len(discord.messages) == 3)
    time.sleep(1.0)
    assert discord.paths[-1] == "/api/webhooks/417429632418316298/token-abc_DEF"
    assert len(discord.messages) == 3


def test_a_flood_of_bad_keys_is_one_security_message(make_api, discord: FakeDiscord) -> None:
    api = make_api(security_window=0.5, burst_per_address=1000, lockout_failures=1000)
    for i in range(30):
        api.post_run({"name": "deploy_web"}, key=f"guess-{i}")
    wait_for(lambda: len(discord.messages) >= 1)
    time.sleep(1.5)
    bodies = [m["embeds"][0]["description"] for m in discord.messages]
    refused = [b for b in bodies if "REFUSED" in b]
    assert len(refused) == 1
    assert re.sub(r"\\(.)", r"\1", refused[0]).startswith(
        "🛡️ REFUSED: 30 request(s) (invalid_key) in 0.5 s")


def test_unapproved_label_is_reported(make_api, discord: FakeDiscord) -> None:
    api = make_api(security_window=0.3, approved_labels="other")
    assert api.post_run({"name": "deploy_web"}).status_code == 403
    wait_for(lambda: any("label_not_approved" in re.sub(r"\\(.)", r"\1",
                                                        m["embeds"][0]["description"])
                         for m in discord.messages))
