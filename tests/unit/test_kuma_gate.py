"""The Uptime Kuma gate against a Kuma stand-in on loopback."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chatops.clock import SystemClock
from chatops.health.kuma import badge_status, kuma_gate, latest_beat
from chatops.intents.loader import parse_intent
from chatops.intents.model import KumaCheck
from tests.fakes.kuma import FakeKuma


class _Target:
    """A service Kuma watches; ``healthy`` flips what it answers."""

    def __init__(self) -> None:
        target = self
        self.healthy = True

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:
                self.send_response(200 if target.healthy else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def kuma() -> Iterator[tuple[FakeKuma, _Target]]:
    target = _Target()
    fake = FakeKuma(interval=0.05).start()
    fake.monitor(7, target.url)
    yield fake, target
    fake.stop()
    target.server.shutdown()


def gate(check: KumaCheck, url: str | None):
    return asyncio.run(kuma_gate(check, url, "kuma", SystemClock(), since=datetime.now(UTC)))


def test_status_page_heartbeat_after_the_change_passes(kuma) -> None:
    fake, _ = kuma
    result = gate(KumaCheck(kuma=7, status_page="homelab", within=3, interval=0.05), fake.url)
    assert result.ok, result.detail


def test_monitor_down_fails_at_the_deadline_naming_the_status(kuma) -> None:
    fake, target = kuma
    target.healthy = False
    result = gate(KumaCheck(kuma=7, status_page="homelab", within=0.5, interval=0.05),
                  fake.url)
    assert not result.ok
    assert "monitor 7 is DOWN" in result.detail


def test_a_beat_from_before_the_change_does_not_count(kuma) -> None:
    fake, _ = kuma
    fake.targets.clear()  # Kuma stops checking: only old beats remain
    asyncio.run(asyncio.sleep(0.1))
    result = gate(KumaCheck(kuma=7, status_page="homelab", within=0.4, interval=0.05),
                  fake.url)
    assert not result.ok
    assert "before the change" in result.detail or "no heartbeat" in result.detail


def test_badge_mode(kuma) -> None:
    fake, target = kuma
    asyncio.run(asyncio.sleep(0.15))
    assert gate(KumaCheck(kuma=7, within=2, interval=0.05), fake.url).ok
    target.healthy = False
    asyncio.run(asyncio.sleep(0.2))
    down = gate(KumaCheck(kuma=7, within=0.3, interval=0.05), fake.url)
    assert not down.ok
    assert "badge reads Down" in down.detail


def test_unknown_status_page_and_missing_url(kuma) -> None:
    fake, _ = kuma
    missing = gate(KumaCheck(kuma=7, status_page="nope", within=0.3, interval=0.1), fake.url)
    assert not missing.ok
    assert "404" in missing.detail
    assert "CHATOPS_KUMA_URL" in gate(KumaCheck(kuma=7), None).detail


def test_parsers() -> None:
    body = {"heartbeatList": {"3": [
        {"status": 0, "time": "2026-01-01 10:00:00.000", "msg": "down"},
        {"status": 1, "time": "2026-01-01 10:00:05.250", "msg": ""},
        {"status": "junk"},
    ]}}
    status, when, _ = latest_beat(body, 3) or (None, None, None)
    assert status == 1
    assert when == datetime(2026, 1, 1, 10, 0, 5, 250000, tzinfo=UTC)
    assert latest_beat(body, 4) is None
    assert badge_status("<svg><title>Status: Up</title></svg>") == "Up"
    assert badge_status("<svg></svg>") is None


def test_intent_field_validation() -> None:
    base = "label_required: l\naction: rollout\nstack: s\nhealth:\n"
    doc = parse_intent(base + "  - kuma: 12\n    status_page: homelab\n    within: 5m\n",
                       label="i.yaml", name="i").documents[0]
    assert doc.health[0] == KumaCheck(kuma=12, status_page="homelab", within=300)
    from chatops.errors import IntentError

    with pytest.raises(IntentError, match=r"health\[0\]\.kuma"):
        parse_intent(base + "  - kuma: 0\n", label="i.yaml", name="i")
    with pytest.raises(IntentError, match="did you mean 'status_page'"):
        parse_intent(base + "  - kuma: 1\n    status_pag: x\n", label="i.yaml", name="i")
