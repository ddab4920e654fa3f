"""The outbox: stored first, delivered later, retried, never duplicated or lost."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatops.notify.kuma import TARGET, KumaPush, push_payload
from chatops.notify.outbox import MAX_ATTEMPTS, Outbox
from tests.fakes.kuma import FakeKuma


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def kuma() -> Iterator[FakeKuma]:
    fake = FakeKuma().start()
    yield fake
    fake.stop()


def payload(status: str = "succeeded") -> dict:
    return push_payload(intent="rollout_stack_media", status=status, reason="gate failed",
                        duration=1.234, run_id="r1")


def test_a_run_outcome_is_pushed_to_uptime_kuma(tmp_path: Path, kuma: FakeKuma) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.put(TARGET, "run_finished", payload("rolled_back"))
    sent = asyncio.run(box.deliver_due({TARGET: KumaPush(f"{kuma.url}/api/push/TOKEN")}))
    assert sent == 1
    assert kuma.pushes == [{"token": "TOKEN", "status": "down",
                            "msg": "rollout_stack_media: rolled_back (gate failed)",
                            "ping": "1234"}]
    assert box.messages()[0].status == "sent"
    assert asyncio.run(box.deliver_due({TARGET: KumaPush(f"{kuma.url}/api/push/TOKEN")})) == 0
    assert len(kuma.pushes) == 1


def test_a_dead_target_is_retried_with_backoff_until_it_is_back(tmp_path: Path,
                                                                kuma: FakeKuma) -> None:
    clock = Clock()
    box = Outbox(tmp_path / "o.sqlite3", clock=clock)
    box.put(TARGET, "run_finished", payload())
    dead = {TARGET: KumaPush("http://127.0.0.1:9/api/push/T", timeout=1)}  # nothing listens
    assert asyncio.run(box.deliver_due(dead)) == 0
    first = box.messages()[0]
    assert (first.status, first.attempts) == ("pending", 1)
    assert "push failed" in (first.last_result or "")
    assert asyncio.run(box.deliver_due(dead)) == 0  # not due yet: nothing is tried
    assert box.messages()[0].attempts == 1
    clock.now += 1.5
    alive = {TARGET: KumaPush(f"{kuma.url}/api/push/T")}
    assert asyncio.run(box.deliver_due(alive)) == 1
    assert len(kuma.pushes) == 1


def test_429_retry_after_is_honoured(tmp_path: Path, kuma: FakeKuma) -> None:
    clock = Clock()
    box = Outbox(tmp_path / "o.sqlite3", clock=clock)
    box.put(TARGET, "run_finished", payload())
    kuma.push_answers.append((429, {"Retry-After": "7"}))
    target = {TARGET: KumaPush(f"{kuma.url}/api/push/T")}
    assert asyncio.run(box.deliver_due(target)) == 0
    clock.now += 6
    assert asyncio.run(box.deliver_due(target)) == 0
    clock.now += 1.5
    assert asyncio.run(box.deliver_due(target)) == 1
    assert len(kuma.pushes) == 1


def test_5xx_then_success(tmp_path: Path, kuma: FakeKuma) -> None:
    clock = Clock()
    box = Outbox(tmp_path / "o.sqlite3", clock=clock)
    box.put(TARGET, "run_finished", payload())
    kuma.push_answers += [(500, {}), (502, {})]
    target = {TARGET: KumaPush(f"{kuma.url}/api/push/T")}
    for _ in range(3):
        asyncio.run(box.deliver_due(target))
        clock.now += 10
    assert [m.status for m in box.messages()] == ["sent"]
    assert box.messages()[0].attempts == 3


def test_pending_messages_survive_a_restart(tmp_path: Path, kuma: FakeKuma) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.put(TARGET, "run_finished", payload())
    box.close()
    again = Outbox(tmp_path / "o.sqlite3")
    assert asyncio.run(again.deliver_due({TARGET: KumaPush(f"{kuma.url}/api/push/T")})) == 1
    assert len(kuma.pushes) == 1


def test_a_message_claimed_by_one_worker_is_not_sent_by_another(tmp_path: Path,
                                                                kuma: FakeKuma) -> None:
    path = tmp_path / "o.sqlite3"
    Outbox(path).put(TARGET, "run_finished", payload())
    target = {TARGET: KumaPush(f"{kuma.url}/api/push/T")}

    async def both() -> list[int]:
        a, b = Outbox(path), Outbox(path)
        return list(await asyncio.gather(a.deliver_due(target), b.deliver_due(target)))

    assert sorted(asyncio.run(both())) == [0, 1]
    assert len(kuma.pushes) == 1


def test_refused_push_is_given_up_at_once_and_kept(tmp_path: Path, kuma: FakeKuma) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.put(TARGET, "run_finished", payload())
    kuma.push_answers.append((404, {}))
    asyncio.run(box.deliver_due({TARGET: KumaPush(f"{kuma.url}/api/push/T")}))
    message = box.messages()[0]
    assert message.status == "failed"
    assert "CHATOPS_KUMA_PUSH_URL" in (message.last_result or "")


def test_attempts_are_bounded(tmp_path: Path) -> None:
    clock = Clock()
    box = Outbox(tmp_path / "o.sqlite3", clock=clock)
    box.put(TARGET, "run_finished", payload())
    dead = {TARGET: KumaPush("http://127.0.0.1:9/api/push/T", timeout=1)}
    for _ in range(MAX_ATTEMPTS + 2):
        asyncio.run(box.deliver_due(dead))
        clock.now += 1000
    assert box.messages()[0].status == "failed"
    assert box.messages()[0].attempts == MAX_ATTEMPTS


def test_the_push_url_token_is_never_stored(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.put(TARGET, "run_finished", payload())
    box.close()
    assert b"api/push" not in (tmp_path / "o.sqlite3").read_bytes()
