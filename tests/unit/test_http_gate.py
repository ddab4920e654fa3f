"""The ``http`` gate against real servers on loopback: what it passes, what it fails, and
the words it fails with."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import ClassVar

import pytest

from chatops.clock import SystemClock
from chatops.engine.docker import DockerEngine
from chatops.health.http import HttpCheck, run
from chatops.health.registry import GateContext, GateResult
from tests.fakes.loopback import JsonHandler


class Handler(JsonHandler):
    seen: ClassVar[list[dict[str, str]]] = []
    protocol_version = "HTTP/1.1"

    def answer(self, status: int, body: bytes, kind: str = "text/plain") -> None:
        self._bytes(status, body, kind)

    def do_GET(self) -> None:
        Handler.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        if self.path == "/ok":
            self.answer(200, b"all good")
        elif self.path == "/broken":
            self.answer(500, b"database down")
        elif self.path.startswith("/query"):
            self.answer(200, self.path.encode())
        elif self.path == "/latin":
            self.answer(200, "Zürich bereit".encode("latin-1"), "text/plain; charset=latin-1")
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"warming ", b"up ", b"ready"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/slow":
            time.sleep(1.0)
            self.answer(200, b"late")
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.answer(404, b"")


@pytest.fixture
def server() -> Iterator[str]:
    Handler.seen.clear()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def gate(check: HttpCheck) -> GateResult:
    ctx = GateContext(clock=SystemClock(), engine=DockerEngine(), description="http",
                      since=datetime.now(UTC))
    return asyncio.run(run(check, ctx))


def check(url: str, **more: object) -> HttpCheck:
    return HttpCheck.model_validate({"http": url, "within": 0.5, "interval": 0.05,
                                     "timeout": 0.3, **more})


def test_an_answer_in_the_status_range_passes(server: str) -> None:
    result = gate(check(f"http://{server}/ok"))
    assert result.ok, result.detail
    assert result.detail == "answered 200"
    assert Handler.seen[0]["host"] == server
    assert Handler.seen[0]["connection"] == "close"


def test_an_error_status_fails_naming_it(server: str) -> None:
    result = gate(check(f"http://{server}/broken"))
    assert not result.ok
    assert result.detail == (f"GET http://{server}/broken did not pass within 0.5s; "
                             "last: answered 500")
    assert len(Handler.seen) > 2  # it kept trying until the deadline


def test_a_redirect_is_not_followed(server: str) -> None:
    result = gate(check(f"http://{server}/redirect", status=200))
    assert not result.ok
    assert result.detail.endswith("last: answered 302")
    assert {s["path"] for s in Handler.seen} == {"/redirect"}


def test_the_body_must_hold_the_text(server: str) -> None:
    assert gate(check(f"http://{server}/ok", body="good")).ok
    result = gate(check(f"http://{server}/ok", body="ready"))
    assert not result.ok
    assert result.detail.endswith("last: answered 200 without 'ready' in the body")


def test_chunked_bodies_and_charsets_are_read(server: str) -> None:
    assert gate(check(f"http://{server}/chunked", body="up ready")).ok
    assert gate(check(f"http://{server}/latin", body="Zürich")).ok


def test_the_query_is_sent(server: str) -> None:
    assert gate(check(f"http://{server}/query?probe=1&x=%20", body="probe=1&x=%20")).ok


def test_credentials_in_the_url_are_sent_as_basic_auth(server: str) -> None:
    assert gate(check(f"http://ops:s%40fe@{server}/ok")).ok
    assert Handler.seen[0]["authorization"] == "Basic " + base64.b64encode(
        b"ops:s@fe").decode()
    assert Handler.seen[0]["host"] == server  # never the credentials


def test_a_slow_answer_counts_as_none(server: str) -> None:
    result = gate(check(f"http://{server}/slow"))
    assert not result.ok
    assert result.detail.endswith("last: no answer within 300ms")


def test_a_refused_connection_is_named() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: refused
        result = gate(check(f"http://127.0.0.1:{port}/ok"))
    assert not result.ok
    assert "last: ConnectionRefusedError" in result.detail


def gate_against(answer: Callable[[socket.socket], None]) -> GateResult:
    """The gate against a raw TCP server on loopback: each connection it accepts is given
    to ``answer`` in a thread of its own."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        return gate(check(f"http://127.0.0.1:{listener.getsockname()[1]}/"))
    finally:
        listener.close()


def test_a_server_that_is_not_http_is_named() -> None:
    def garbage(conn: socket.socket) -> None:
        with conn:
            conn.recv(1024)
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

    result = gate_against(garbage)
    assert not result.ok
    assert "last: BadStatusLine: SSH-2.0-OpenSSH_9.2" in result.detail


def test_https_to_a_server_that_speaks_no_tls_fails_naming_tls(server: str) -> None:
    result = gate(check(f"https://{server}/ok"))  # plain HTTP behind an https URL
    assert not result.ok
    assert "last: SSLError: [SSL: WRONG_VERSION_NUMBER]" in result.detail


def test_an_ipv6_loopback_url_without_a_path_is_reached() -> None:
    class Server6(ThreadingHTTPServer):
        address_family = socket.AF_INET6

    Handler.seen.clear()
    httpd = Server6(("::1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        port = httpd.server_address[1]
        result = gate(check(f"http://[::1]:{port}", status=404))
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.ok, result.detail
    assert Handler.seen[0]["path"] == "/"
    assert Handler.seen[0]["host"] == f"[::1]:{port}"


def test_an_attempt_the_gate_stops_waiting_for_is_cut_off() -> None:
    """A server that trickles its headers (every read gets a byte before the timeout) is
    not waited for: each attempt's connection is shut down when its time is up, so no
    thread is left reading it and the run goes on (the server gives up after 3 s, and a
    connection it closed itself was not cut)."""
    cut: list[bool] = []
    accepted: list[socket.socket] = []

    def trickle(conn: socket.socket) -> None:
        accepted.append(conn)
        with conn:
            conn.recv(1024)
            deadline = time.monotonic() + 3.0
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                while time.monotonic() < deadline:
                    conn.sendall(b"X")
                    time.sleep(0.05)
            except OSError:  # the gate shut its side down
                cut.append(True)
                return
            cut.append(False)

    result = gate_against(trickle)
    assert not result.ok
    assert result.detail.endswith("last: no answer within 300ms")
    for _ in range(80):  # each trickling thread notices within a send or two
        if accepted and len(cut) == len(accepted):
            break
        time.sleep(0.05)
    assert accepted
    assert len(cut) == len(accepted)
    assert all(cut), cut


def test_a_gate_stopped_while_connecting_leaves_nothing_running() -> None:
    """A step that fails stops its gates at once (a task crashed, say). An attempt still
    connecting (a published port with nothing behind it: the backlog here is full, so
    the connection never completes) is dropped with it: no worker thread is left waiting
    on the connection, which the process would have to wait for when it exits."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    backlog = []
    for _ in range(4):  # never accepted: the queue is full, later connections hang
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        backlog.append(filler)
    ctx = GateContext(clock=SystemClock(), engine=DockerEngine(), description="http",
                      since=datetime.now(UTC))

    async def stopped_then_drained() -> bool:
        waiting = check(f"http://127.0.0.1:{port}/", timeout=30.0, within=60.0)
        gating = asyncio.ensure_future(run(waiting, ctx))
        await asyncio.sleep(0.5)  # its first attempt is connecting
        gating.cancel()
        await asyncio.gather(gating, return_exceptions=True)
        try:  # every worker thread free: the executor shuts down without waiting
            await asyncio.wait_for(asyncio.get_running_loop().shutdown_default_executor(), 5)
        except TimeoutError:
            return False
        return True

    try:
        assert asyncio.run(stopped_then_drained())
    finally:
        for sock in (*backlog, listener):
            sock.close()
