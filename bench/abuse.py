"""Benchmark: ``chatops serve`` under abuse, beside the same service on uvicorn's stock
HTTP protocol (what chatops ran before its connections were bounded).

Loopback only. Needs wrk (Debian package) and, for runs that start, scripts/harness.sh
(without an engine the runs fail fast; their acceptance is what is measured). Prints, for
each server, medians of ``--rounds`` rounds:

1. peak RSS while 8 connections each send 16 MiB of one header line and never finish
   (target <= 100 MB);
2. slow connections (300, one byte a second, from 10 addresses) still open after the
   head deadline (target 0);
3. p99 of a good client's POST /run (from 127.0.0.2, one every 100 ms) during that
   slowloris plus a wrong-key flood (wrk, 64 connections) (target <= 50 ms);
4. slow bodies (540 connections from 9 addresses, each a whole head of POST
   /webhooks/github, then one byte of its body every 2 s) still open after the body
   deadline (target 0);
5. refusals and p99 of the good client (from a tenth address) while those 540 slow
   bodies reconnect as soon as they are cut (target 0 refusals, p99 <= 50 ms).

Usage: .venv/bin/python bench/abuse.py [--rounds 3] [--seconds 12]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from loopback import allow_loopback
from serve import free_port, p99, rss_mb, wait_port

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-abuse-key-" + uuid.uuid4().hex
HEAD_TIMEOUT = 10.0  # chatops' default
BODY_TIMEOUT = 10.0  # chatops' default
SLOW_BODY = (b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"X-GitHub-Event: push\r\nContent-Length: 4000\r\n\r\n{")


@contextlib.contextmanager
def service(tmp: Path, stock: bool) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    repo = tmp / f"repo-{uuid.uuid4().hex[:6]}"
    (repo / "chatops" / "intents").mkdir(parents=True)
    allow_loopback(repo)
    (repo / "stacks" / "bench").mkdir(parents=True)
    (repo / "stacks" / "bench" / "docker-compose.yml").write_text(
        f"name: abuse-{uuid.uuid4().hex[:6]}\nservices:\n  web:\n"
        "    image: 127.0.0.1:5000/chatops-demo:v1\n    network_mode: host\n")
    (repo / "chatops" / "intents" / "pull_bench.yaml").write_text(
        "label_required: ok\naction: pull\nstack: bench\n")
    port = free_port()
    env = {**os.environ, "CHATOPS_API_KEY": KEY, "APPROVED_LABEL": "ok",
           "CHATOPS_STATE_DIR": str(tmp / f"state-{port}"),
           # The flood and the good client are measured, not rate limited.
           "CHATOPS_RATE_PER_KEY": "1000", "CHATOPS_BURST_PER_KEY": "1000"}
    if stock:
        argv = [sys.executable, str(ROOT / "bench" / "_stock_serve.py"), str(repo), str(port)]
    else:
        argv = [str(Path(sys.executable).parent / "chatops"), "serve", "--repo", str(repo),
                "--port", str(port)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield proc, port
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def huge_headers_rss(proc: subprocess.Popen[bytes], port: int) -> float:
    """Peak RSS while 8 connections send 16 MiB of one header line, never finishing."""
    peak = rss_mb(proc.pid)
    stop = threading.Event()

    def sender() -> None:
        chunk = b"a" * 65536
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)) as c:
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
            for _ in range(256):
                c.sendall(chunk)
            stop.wait(2)  # hold it open, unfinished

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, rss_mb(proc.pid))
        time.sleep(0.02)
    stop.set()
    return peak


class Slowloris:
    """``count`` connections from 10 loopback addresses, each sending one byte a second of
    a request head that never ends; reconnecting when the server closes one."""

    def __init__(self, port: int, count: int, *, head: bytes = b"GET /healthz HTTP/1.1\r\n",
                 every: float = 1.0, addresses: int = 10, network: str = "127.0.1") -> None:
        self.port, self.count = port, count
        self.head, self.every = head, every
        self.addresses, self.network = addresses, network
        self.conns: list[socket.socket | None] = [None] * count
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.reconnect = True

    def _open(self, i: int) -> socket.socket | None:
        try:
            conn = socket.create_connection(
                ("127.0.0.1", self.port), timeout=2,
                source_address=(f"{self.network}.{10 + i % self.addresses}", 0))
            conn.setblocking(False)
            conn.send(self.head)
            return conn
        except OSError:
            return None

    def closed_by_server(self, conn: socket.socket) -> bool:
        try:
            data = conn.recv(4096, socket.MSG_PEEK)
        except BlockingIOError:
            return False
        except OSError:
            return True
        return data == b"" or data.startswith(b"HTTP/")

    def _run(self) -> None:
        for i in range(self.count):
            self.conns[i] = self._open(i)
        while not self.stop.wait(self.every):
            for i, conn in enumerate(self.conns):
                if conn is not None and self.closed_by_server(conn):
                    conn.close()
                    self.conns[i] = None
                if self.conns[i] is None:
                    if self.reconnect:
                        self.conns[i] = self._open(i)
                    continue
                with contextlib.suppress(OSError):
                    conn.send(b"X")  # type: ignore[union-attr]

    def open_count(self) -> int:
        return sum(1 for c in self.conns if c is not None and not self.closed_by_server(c))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        for conn in self.conns:
            if conn is not None:
                conn.close()


def open_after(attack: Slowloris, seconds: float) -> int:
    """How many of ``attack``'s connections (not reopened) are still open ``seconds``
    after they began."""
    attack.reconnect = False
    attack.thread.start()
    time.sleep(seconds)
    count = attack.open_count()
    attack.close()
    return count


def still_open_after_deadline(port: int) -> int:
    return open_after(Slowloris(port, 300), HEAD_TIMEOUT + 3)


def slow_bodies(port: int) -> Slowloris:
    return Slowloris(port, 540, head=SLOW_BODY, every=2.0, addresses=9, network="127.0.2")


def slow_bodies_open_after_deadline(port: int) -> int:
    return open_after(slow_bodies(port), BODY_TIMEOUT + 3)


def good_client_p99_slow_bodies(port: int, seconds: float) -> tuple[float, int]:
    """(p99 ms, refusals) of the good client while 540 slow bodies keep coming back."""
    bodies = slow_bodies(port)
    bodies.thread.start()
    time.sleep(1.0)
    try:
        return good_client(port, seconds)
    finally:
        bodies.close()


def good_client(port: int, seconds: float) -> tuple[float, int]:
    """(p99 ms, answers other than 200) of POST /run from 127.0.0.2, one every 100 ms."""
    took, failed = [], 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                          source_address=("127.0.0.2", 0))
        began = time.perf_counter()
        try:
            conn.request("POST", "/run", body=json.dumps({"name": "pull_bench"}),
                         headers={"X-API-Key": KEY, "Content-Type": "application/json"})
            ok = conn.getresponse().status == 200
        except OSError:
            ok = False
        took.append((time.perf_counter() - began) * 1000)
        failed += not ok
        conn.close()
        time.sleep(0.1)
    return p99(took), failed


def good_client_p99(port: int, seconds: float) -> tuple[float, int]:
    """p99 (ms) of POST /run from 127.0.0.2 during a slowloris and a wrong-key flood."""
    loris = Slowloris(port, 300)
    loris.thread.start()
    script = Path(tempfile.mkdtemp()) / "flood.lua"
    script.write_text('wrk.method = "POST"\nwrk.body = \'{"name": "pull_bench"}\'\n'
                      'wrk.headers["X-API-Key"] = "wrong-key"\n'
                      'wrk.headers["Content-Type"] = "application/json"\n')
    flood = subprocess.Popen(["wrk", "-t", "2", "-c", "64", "-d", f"{int(seconds) + 2}s",
                              "-s", str(script), f"http://127.0.0.1:{port}/run"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    try:
        return good_client(port, seconds)
    finally:
        flood.wait()
        loris.close()


def keep(figures: dict[str, list[float]], prefix: str, measured: tuple[float, int]) -> None:
    """A good client's (p99, refusals) into ``figures``, under ``prefix``."""
    figures[prefix + "p99"].append(measured[0])
    figures[prefix + "failed"].append(measured[1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=12)
    parser.add_argument("--only", choices=("all", "bodies"), default="all",
                        help="bodies: only the slow-body attack (figures 4 and 5)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    results: dict[bool, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="chatops-abuse-") as name:
        tmp = Path(name)
        for _ in range(args.rounds):
            for stock in (False, True):
                figures = results.setdefault(stock, {"rss": [], "open": [], "p99": [],
                                                     "failed": [], "bodies_open": [],
                                                     "bodies_p99": [],
                                                     "bodies_failed": []})
                if args.only == "all":
                    with service(tmp, stock) as (proc, port):
                        figures["rss"].append(huge_headers_rss(proc, port))
                    with service(tmp, stock) as (_, port):
                        figures["open"].append(still_open_after_deadline(port))
                    with service(tmp, stock) as (_, port):
                        keep(figures, "", good_client_p99(port, args.seconds))
                with service(tmp, stock) as (_, port):
                    figures["bodies_open"].append(slow_bodies_open_after_deadline(port))
                with service(tmp, stock) as (_, port):
                    keep(figures, "bodies_", good_client_p99_slow_bodies(port, args.seconds))
    med = {stock: {k: statistics.median(v) if v else float("nan") for k, v in f.items()}
           for stock, f in results.items()}
    ours, base = med[False], med[True]
    print(f"medians of {args.rounds} rounds        chatops    stock uvicorn   target")
    if args.only == "all":
        print_head_figures(ours, base)
    print(f"  slow bodies still open         {ours['bodies_open']:7.0f}      "
          f"{base['bodies_open']:7.0f}           0 (of 540, {BODY_TIMEOUT + 3:g} s after they "
          "began)")
    print(f"  good POST /run, slow bodies    {ours['bodies_p99']:7.1f} ms   "
          f"{base['bodies_p99']:7.1f} ms     <= 50 ms    (refused "
          f"{ours['bodies_failed']:.0f} vs {base['bodies_failed']:.0f}; target 0)")
    return 0


def print_head_figures(ours: dict[str, float], base: dict[str, float]) -> None:
    print(f"  RSS, 8 x 16 MiB unfinished     {ours['rss']:7.1f} MB   {base['rss']:7.1f} MB"
          f"     <= 100 MB   ({ours['rss'] / base['rss']:.2f}x)")
    print(f"  slow connections still open    {ours['open']:7.0f}      {base['open']:7.0f}"
          f"           0 (of 300, {HEAD_TIMEOUT + 3:g} s after they began)")
    print(f"  good POST /run p99, abused     {ours['p99']:7.1f} ms   {base['p99']:7.1f} ms"
          f"     <= 50 ms    ({ours['p99'] / base['p99']:.2f}x; failed "
          f"{ours['failed']:.0f} vs {base['failed']:.0f})")


if __name__ == "__main__":
    raise SystemExit(main())
