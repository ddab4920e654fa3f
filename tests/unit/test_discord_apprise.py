"""Chat notifications through Apprise's real Discord plugin, to a Discord on loopback."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from chatops.notify.apprise_target import AppriseTarget, parse_urls, target_name
from chatops.notify.messages import TITLE, escape, run_message, security_message
from chatops.notify.outbox import Outbox
from tests.fakes.discord import FakeDiscord, violations

WEBHOOK = "https://discord.com/api/webhooks/417429632418316298/token-abc_DEF"


@pytest.fixture
def discord(fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> FakeDiscord:
    return fake_discord


def rendered(text: str) -> str:
    """What Discord shows: code fences and escapes dropped, zero-width spaces gone."""
    fenced = re.fullmatch(r"```\w*\n(.*)\n```", text.strip(), re.S)
    if fenced:
        return fenced.group(1).replace("\u200b", "")
    return re.sub(r"\\(.)", r"\1", text).replace("\u200b", "")


RECORD = {"id": "20261126-1", "intent": "rollout_stack_media", "status": "succeeded",
          "reason": None, "duration_seconds": 12.5, "sha": "0123abcd", "actor": "github-ci",
          "trigger": "api", "client": "100.64.0.5", "snapshots": []}


def send(target: AppriseTarget, message) -> bool:
    return asyncio.run(target(message.payload())).ok


def test_success_reads_as_the_seeds_message(discord: FakeDiscord) -> None:
    message = run_message(RECORD, action="rollout", stack="stack-media")
    assert send(AppriseTarget(WEBHOOK), message)
    (payload,) = discord.messages
    (embed,) = payload["embeds"]
    assert embed["title"] == TITLE
    assert rendered(embed["description"]).splitlines()[0] == (
        "✅ SUCCESS: rollout on stack stack-media (intent: rollout_stack_media)")
    fields = {f["name"]: rendered(f["value"]) for f in embed.get("fields", [])}
    assert fields["Duration"] == "12.5 s"
    assert fields["Commit"] == "0123abcd"
    assert fields["Triggered by"] == "github-ci via api from 100.64.0.5"
    assert embed["color"] != 0


def test_rolled_back_names_the_failed_and_the_restored_image(discord: FakeDiscord) -> None:
    record = {**RECORD, "status": "rolled_back", "reason": "health gate failed: answered 500",
              "snapshots": [{"kind": "before", "services": {"plex": {
                  "image_ref": "plexinc/pms-docker:1.40.5", "containers": [
                      {"image_ref": "plexinc/pms-docker:1.40.4",
                       "image_id": "sha256:" + "a" * 64}]}}}]}
    assert send(AppriseTarget(WEBHOOK), run_message(record, action="rollout",
                                                    stack="stack-media"))
    embed = discord.messages[0]["embeds"][0]
    assert rendered(embed["description"]).startswith("↩️ ROLLED BACK: rollout on stack")
    fields = {f["name"]: rendered(f["value"]) for f in embed["fields"]}
    assert fields["Failed image"] == "plex: plexinc/pms-docker:1.40.5"
    assert fields["Restored image"].startswith("plex: plexinc/pms-docker:1.40.4 (sha256:")
    assert "answered 500" in fields["Reason"]


def test_outside_values_are_escaped_and_trimmed(discord: FakeDiscord) -> None:
    hostile = {**RECORD, "status": "failed", "actor": "@everyone",
               "reason": "**bold** [link](http://evil) " + "x" * 5000}
    message = run_message(hostile, action="rollout", stack="stack-media")
    assert send(AppriseTarget(WEBHOOK), message)
    embed = discord.messages[0]["embeds"][0]
    description = embed["description"]
    values = [f["value"] for f in embed["fields"]]
    assert all(v.startswith("```") and v.count("```") == 2 for v in values)
    assert "@everyone" not in description + "".join(values)
    reason = next(f["value"] for f in embed["fields"] if f["name"] == "Reason")
    assert len(reason) <= 1024
    assert discord.refused == []
    assert escape("x" * 2000, 100).endswith("…")


def test_security_events_are_one_message_per_window() -> None:
    message = security_message("invalid_key", 4312, [f"100.64.0.{i}" for i in range(30)], 60)
    assert message.headline == "🛡️ REFUSED: 4312 request(s) (invalid\\_key) in 60 s"
    assert "and 20 more" in message.body


def test_429_with_retry_after_is_retried_and_delivered_once(discord: FakeDiscord,
                                                            tmp_path: Path) -> None:
    target = AppriseTarget(WEBHOOK)
    box = Outbox(tmp_path / "o.sqlite3")
    message = run_message(RECORD, action="rollout", stack="stack-media")
    box.put(target.name, "run_finished", {"title": message.title, "body": message.body,
                                          "level": message.level})
    discord.answers += [("429", 1.0), ("429", 1.0)]
    asyncio.run(box.deliver_due({target.name: target}))
    if not discord.messages:  # Apprise waited once itself; the outbox retries the rest
        asyncio.run(asyncio.sleep(1.2))
        asyncio.run(box.deliver_due({target.name: target}))
    assert len(discord.messages) == 1
    assert [m.status for m in box.messages()] == ["sent"]


def test_5xx_is_retried_and_nothing_is_duplicated(discord: FakeDiscord, tmp_path: Path) -> None:
    clock = [1000.0]
    target = AppriseTarget(WEBHOOK)
    box = Outbox(tmp_path / "o.sqlite3", clock=lambda: clock[0])
    box.put(target.name, "run_finished", {"title": "t", "body": "b", "level": "info"})
    discord.answers.append(("500", 0))
    asyncio.run(box.deliver_due({target.name: target}))
    assert discord.messages == []
    clock[0] += 5
    asyncio.run(box.deliver_due({target.name: target}))
    asyncio.run(box.deliver_due({target.name: target}))
    assert len(discord.messages) == 1


def test_a_hanging_target_times_out_and_stays_queued(discord: FakeDiscord,
                                                     tmp_path: Path) -> None:
    target = AppriseTarget(WEBHOOK, timeout=1.0)
    box = Outbox(tmp_path / "o.sqlite3")
    box.put(target.name, "run_finished", {"title": "t", "body": "b", "level": "info"})
    discord.answers.append(("hang", 3.0))
    asyncio.run(box.deliver_due({target.name: target}))
    (message,) = box.messages()
    assert (message.status, message.attempts) == ("pending", 1)
    assert "did not answer" in (message.last_result or "")


def test_urls_and_names() -> None:
    assert parse_urls("discord://a/b, ntfy://topic", "discord://a/b") == [
        "discord://a/b", "ntfy://topic"]
    assert target_name(WEBHOOK).startswith("apprise-https-")
    assert "token" not in target_name(WEBHOOK)
    assert AppriseTarget(WEBHOOK).url.endswith("?format=markdown")
    assert AppriseTarget("ntfy://topic").url == "ntfy://topic"


def test_payloads_over_discords_limits_are_what_the_fake_refuses() -> None:
    assert violations({"content": "x" * 2001}) == ["content is 2001 characters"]
    assert violations({"embeds": [{"title": "t" * 257}]})
    assert violations({}) == ["neither content nor embeds"]


def test_a_plain_json_webhook_target_gets_the_same_message(tmp_path: Path) -> None:
    from tests.fakes.json_target import JsonTarget

    server = JsonTarget()
    received = server.received
    try:
        target = AppriseTarget(server.url)
        assert send(target, run_message(RECORD, action="rollout", stack="stack-media"))
    finally:
        server.stop()
    (body,) = received
    assert body["title"] == TITLE
    assert rendered(body["message"]).splitlines()[0] == (
        "✅ SUCCESS: rollout on stack stack-media (intent: rollout_stack_media)")
    assert body["type"] == "success"
    # Plain text, not Discord's Markdown: the seed's line arrives exactly as written.
    assert body["message"].splitlines()[0] == (
        "✅ SUCCESS: rollout on stack stack-media (intent: rollout_stack_media)")
    assert "\\" not in body["message"]
    assert "Triggered by: github-ci via api from 100.64.0.5" in body["message"]


def test_discord_gets_the_markdown_rendering(discord: FakeDiscord) -> None:
    message = run_message(RECORD, action="rollout", stack="stack-media")
    assert send(AppriseTarget(WEBHOOK), message)
    (payload,) = discord.messages
    embed = payload["embeds"][0]
    assert "intent: rollout\\_stack\\_media" in embed["description"]
