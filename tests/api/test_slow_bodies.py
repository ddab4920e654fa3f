"""A request body has a deadline and a minimum rate, on the real service over loopback:
a body that trickles in is cut with 408, audited once, with no traceback; a client that
goes away mid-body leaves no error; behind a trusted proxy, each forwarded address is
capped like a direct one."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.served import KEY, Service, start

INTENT = "label_required: approved\naction: rollout\nstack: web\n"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    repo = tmp_path / "repo"
    (repo / "chatops" / "intents").mkdir(parents=True)
    (repo / "chatops" / "intents" / "deploy_web.yaml").write_text(INTENT)
    served = start(repo, tmp_path / "state", env={
        "CHATOPS_BODY_TIMEOUT": "3", "CHATOPS_BODY_MIN_RATE": "64",
        "CHATOPS_MAX_CONNECTIONS_PER_ADDRESS": "4", "CHATOPS_LOCKOUT_FAILURES": "3",
        "CHATOPS_TRUSTED_PROXIES": "127.0.0.9/32",
        "CHATOPS_IP_ALLOWLIST": "127.0.0.0/8,203.0.113.0/24,198.51.100.0/24"})
    yield served
    served.stop()


def head(path: str, length: int, **extra: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: x", "Content-Type: application/json",
             f"Content-Length: {length}", f"X-API-Key: {KEY}",
             *(f"{k.replace('_', '-')}: {v}" for k, v in extra.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def trickle(port: int, data: bytes, *, every: float, source: str = "127.0.0.1",
            deadline: float = 15.0) -> tuple[bytes, float]:
    """Send the head, then the body a byte at a time; (the answer, seconds it took)."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=deadline,
                                    source_address=(source, 0))
    began = time.monotonic()
    answer = b""
    with conn, contextlib.suppress(OSError):
        cut = data.index(b"\r\n\r\n") + 4
        conn.sendall(data[:cut])
        for byte in data[cut:]:
            conn.sendall(bytes([byte]))
            conn.settimeout(every)
            try:
                answer = conn.recv(4096)
            except TimeoutError:
                continue
            break
        conn.settimeout(deadline)
        while not answer:
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer, time.monotonic() - began


def test_a_body_that_trickles_in_is_cut_at_its_minimum_rate_and_audited_once(
        service: Service) -> None:
    body = json.dumps({"name": "deploy_web", "dry_run": True}).encode()
    answer, took = trickle(service.port, head("/run", len(body)) + body, every=1.0)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"bytes a second" in answer
    assert took < 4
    time.sleep(0.3)
    rows = [r for r in service.get("/audit?limit=50").json()["records"]
            if r["status"] == 408]
    assert len(rows) == 1, rows
    assert rows[0]["reason"] == "request_timeout"
    assert service.get("/healthz").status_code == 200
    err = service.stop()
    assert "Traceback" not in err, err
    assert "Exception" not in err, err


def test_a_body_within_the_rate_but_past_the_deadline_is_cut(service: Service) -> None:
    # 100 bytes a second beats the minimum rate (64) but 600 bytes need 6 s: past 3 s.
    body = b'{"name": "deploy_web", "dry_run": true, "x": "' + b"a" * 560 + b'"}'
    conn = socket.create_connection(("127.0.0.1", service.port), timeout=10)
    answer = b""
    began = time.monotonic()
    with conn, contextlib.suppress(OSError):
        conn.sendall(head("/run", len(body)))
        for i in range(0, len(body), 10):
            conn.sendall(body[i:i + 10])
            time.sleep(0.1)
            conn.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                answer = conn.recv(4096)
            conn.setblocking(True)
            if answer:
                break
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"did not arrive within 3 s" in answer
    assert 2.5 < time.monotonic() - began < 5


def test_a_whole_body_sent_at_once_is_served(service: Service) -> None:
    answer = service.post("/run", {"name": "deploy_web", "dry_run": True})
    assert answer.status_code == 200, answer.text


def test_a_client_that_goes_away_mid_body_leaves_no_error(service: Service) -> None:
    for _ in range(5):
        conn = socket.create_connection(("127.0.0.1", service.port))
        conn.sendall(head("/run", 500) + b'{"name": ')
        time.sleep(0.2)
        conn.close()
    time.sleep(0.5)
    assert service.get("/healthz").status_code == 200
    err = service.stop()
    assert "Traceback" not in err, err
    assert "Exception" not in err, err


def test_a_forwarded_address_gets_the_per_address_cap_behind_a_trusted_proxy(
        service: Service) -> None:
    """Through the proxy (127.0.0.9), one client (203.0.113.7) holding four slow bodies
    is refused a fifth; another client through the same proxy is served."""
    held = []
    for _ in range(4):
        conn = socket.create_connection(("127.0.0.1", service.port),
                                        source_address=("127.0.0.9", 0))
        conn.sendall(head("/run", 100, X_Forwarded_For="203.0.113.7") + b"{")
        held.append(conn)
    try:
        time.sleep(0.3)
        fifth = service.post("/run", {"name": "deploy_web", "dry_run": True},
                             source="127.0.0.9", **{"X-Forwarded-For": "203.0.113.7"})
        assert fifth.status_code == 429, fifth.text
        assert fifth.json()["error"]["code"] == "too_many_connections"
        other = service.post("/run", {"name": "deploy_web", "dry_run": True},
                             source="127.0.0.9", **{"X-Forwarded-For": "198.51.100.2"})
        assert other.status_code == 200, other.text
    finally:
        for conn in held:
            conn.close()


def test_an_address_whose_bodies_keep_trickling_is_locked_out_at_accept(
        service: Service) -> None:
    """Three cut bodies lock the address out: its next connection is held unread, then
    answered 429 without being read; another address is served meanwhile."""
    body = json.dumps({"name": "deploy_web", "dry_run": True}).encode()
    answers: list[bytes] = []
    threads = [threading.Thread(target=lambda: answers.append(trickle(
        service.port, head("/run", len(body)) + body, every=1.0, source="127.0.0.5")[0]))
        for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers
    began = time.monotonic()
    locked, _ = trickle(service.port, head("/run", len(body)) + body, every=1.0,
                        source="127.0.0.5")
    assert locked.startswith(b"HTTP/1.1 429"), locked
    assert b"locked_out" in locked
    assert time.monotonic() - began > 3  # held first, unread
    assert service.post("/run", {"name": "deploy_web", "dry_run": True}).status_code == 200
    rows = service.get("/audit?limit=50").json()["records"]
    assert any(r["reason"] == "locked_out" and r["client"] == "127.0.0.5" for r in rows)
