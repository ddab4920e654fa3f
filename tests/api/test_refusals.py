"""Refusals answered by the connection itself, as soon as a request's head has arrived
(server/connections.py with the guard's ``screen``), on a real service over loopback:
the answer is the guard's own, the connection is kept for the next request, requests
sent together are answered in order, and every refusal is in the audit trail."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.served import KEY, Service, start


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    repo = tmp_path / "repo"
    (repo / "chatops" / "intents").mkdir(parents=True)
    (repo / "chatops" / "intents" / "deploy_web.yaml").write_text(
        "label_required: approved\naction: rollout\nstack: web\n")
    started = start(repo, tmp_path / "state", env={
        "CHATOPS_LOCKOUT_FAILURES": "1000", "CHATOPS_KEY_FAILURE_BUDGET": "1000",
        "CHATOPS_BURST_PER_ADDRESS": "1000", "CHATOPS_RATE_PER_ADDRESS": "1000"})
    yield started
    started.stop()


def request(method: str, path: str, key: str, body: bytes = b"", **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: chatops", f"X-API-Key: {key}",
             f"Content-Length: {len(body)}", "Content-Type: application/json",
             *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Reader:
    """Whole responses read one after another from one connection."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.buffer = b""

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
        length = int(headers["content-length"])
        while len(self.buffer) < length:
            self._more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split(" ")[1]), headers, body

    def closed(self) -> bool:
        self.conn.settimeout(5)
        try:
            return self.conn.recv(1) == b""
        except ConnectionResetError:
            return True

    def _more(self) -> None:
        chunk = self.conn.recv(65536)
        if not chunk:
            raise AssertionError(f"closed after {self.buffer!r}")
        self.buffer += chunk


def test_a_wrong_key_is_answered_and_the_connection_serves_the_next_request(
        service: Service) -> None:
    body = json.dumps({"name": "deploy_web"}).encode()
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as conn:
        reader = Reader(conn)
        conn.sendall(request("POST", "/run", "wrong-key", body, x_request_id="mine-1"))
        status, headers, answer = reader.response()
        assert status == 401
        assert json.loads(answer)["error"]["code"] == "invalid_key"
        assert headers["x-request-id"] == "mine-1"
        assert headers["content-type"] == "application/json"
        assert "connection" not in headers  # kept: the next request is read whole
        conn.sendall(request("GET", "/runs", KEY))
        status, _, answer = reader.response()
        assert status == 200, answer
        assert "runs" in json.loads(answer)
        # The same refusal again on the same connection, then a missing key.
        conn.sendall(request("POST", "/run", "wrong-key", body))
        assert reader.response()[0] == 401
        conn.sendall(request("GET", "/runs", ""))
        status, headers, answer = reader.response()
        assert (status, json.loads(answer)["error"]["code"]) == (401, "missing_key")
        assert len(headers["x-request-id"]) == 16  # made by the service


def test_requests_sent_together_are_answered_in_their_order(service: Service) -> None:
    body = json.dumps({"name": "deploy_web"}).encode()
    together = (request("GET", "/runs", KEY) + request("POST", "/run", "bad", body)
                + request("GET", "/intents", KEY) + request("POST", "/run", "bad", body))
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as conn:
        conn.sendall(together)
        reader = Reader(conn)
        answers = [reader.response() for _ in range(4)]
    assert [status for status, _, _ in answers] == [200, 401, 200, 401]
    assert "runs" in json.loads(answers[0][2])
    assert "intents" in json.loads(answers[2][2])


def test_a_body_over_the_limit_is_refused_unread_and_the_connection_closed(
        service: Service) -> None:
    body = b'{"name": "' + b"a" * (100 * 1024) + b'"}'  # CHATOPS_MAX_BODY_BYTES: 64 KiB
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as conn:
        reader = Reader(conn)
        conn.sendall(request("POST", "/run", KEY, body)[:2000])
        status, headers, answer = reader.response()
        assert (status, json.loads(answer)["error"]["code"]) == (413, "body_too_large")
        assert headers["connection"] == "close"  # the body is not read for nothing
        assert reader.closed()


def test_a_refused_body_under_the_limit_is_read_and_dropped(service: Service) -> None:
    body = json.dumps({"name": "deploy_web", "pad": "a" * 40_000}).encode()
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as conn:
        reader = Reader(conn)
        conn.sendall(request("POST", "/run", "wrong-key", body) + request("GET", "/runs", KEY))
        assert reader.response()[0] == 401
        assert reader.response()[0] == 200  # the body was not taken for a request


def test_refusals_on_the_spot_are_each_counted_in_the_audit_trail(service: Service) -> None:
    body = json.dumps({"name": "deploy_web"}).encode()
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as conn:
        reader = Reader(conn)
        for _ in range(40):
            conn.sendall(request("POST", "/run", "wrong-key", body))
            assert reader.response()[0] == 401
    deadline = time.monotonic() + 10
    refused: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        records = service.get("/audit?limit=200").json()["records"]
        refused = [r for r in records if r["reason"] == "invalid_key"]
        if sum(int(r["count"]) for r in refused) >= 40:  # type: ignore[call-overload]
            break
        time.sleep(0.2)
    assert sum(int(r["count"]) for r in refused) == 40  # type: ignore[call-overload]
    assert len(refused) < 40  # alike refusals share records
    assert all(r["endpoint"] == "/run" and r["client"] == "127.0.0.1" for r in refused)
    metrics = service.get("/metrics", key=None).text
    assert 'chatops_rejected_requests_total{reason="invalid_key"} 40.0' in metrics


def test_an_address_locked_out_for_bad_keys_is_answered_429_on_each_request(
        tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "chatops" / "intents").mkdir(parents=True)
    locked = start(repo, tmp_path / "state", env={"CHATOPS_LOCKOUT_FAILURES": "3"})
    try:
        with socket.create_connection(("127.0.0.1", locked.port), timeout=10) as conn:
            reader = Reader(conn)
            for _ in range(3):
                conn.sendall(request("GET", "/runs", "wrong-key"))
                assert reader.response()[0] == 401
            conn.sendall(request("GET", "/runs", KEY))  # even the good key, now
            status, headers, answer = reader.response()
            assert (status, json.loads(answer)["error"]["code"]) == (429, "locked_out")
            assert int(headers["retry-after"]) >= 1
        # A new connection from the address is let in, and answered the same, request by
        # request; another address is not locked out.
        with socket.create_connection(("127.0.0.1", locked.port), timeout=10) as conn:
            reader = Reader(conn)
            for _ in range(2):
                conn.sendall(request("GET", "/runs", KEY))
                assert reader.response()[0] == 429
        assert locked.get("/runs", source="127.0.0.2").status_code == 200
    finally:
        locked.stop()
