"""Benchmark: ``chatops run`` on the real engine, each figure beside its baseline.

Needs scripts/harness.sh (engine, Compose, registry on 127.0.0.1:5000). Prints, medians
of ``--pairs`` interleaved runs:
1. the raw floor: ``docker compose pull && docker compose up -d`` switching tags;
2. an HTTP-gated rollout of a service that answers at once, against pull + up + polling
   the health URL every 100 ms by hand: ``chatops run`` with a service running (through
   its socket; target ratio <= 1.15), ``POST /run`` with ``wait`` (<= 1.10), and
   ``chatops run --local`` (in its own process) for reference;
   (and <= 1.5 without a service: ``chatops run --local``, its own process);
3. an ungated rollout through the service, beyond the stability window (<= 100 ms);
4. ``chatops runs`` against the service's socket, wall time (<= 80 ms), beside ``--local``,
   and ``chatops --version`` (<= 25 ms) beside the interpreter's own start;
5. time to recover: from a failed gate to the previous version answering again (3 s);
6. peak RSS of a ``chatops run --local`` process (80 MB).

Usage: .venv/bin/python bench/run.py [--pairs 7]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.util
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from loopback import allow_loopback

REGISTRY = "127.0.0.1:5000"
DEMO = f"{REGISTRY}/chatops-demo"
CHATOPS = str(Path(sys.executable).parent / "chatops")


def sh(*argv: str, env: dict[str, str] | None = None, check: bool = True) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    took = time.perf_counter() - start
    if check and done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr[-800:]}")
    return took


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - loopback only
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except (OSError, http.client.HTTPException):  # refused, reset, or cut mid-answer
        return 0, ""


class Stack:
    def __init__(self, root: Path, images: dict[str, str], *, delay: str | None = None) -> None:
        self.name = f"bench-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.root = root / self.name
        self.dir = self.root / "stacks" / self.name
        self.dir.mkdir(parents=True)
        (self.root / "chatops" / "intents").mkdir(parents=True)
        allow_loopback(self.root)
        self.file = self.dir / "docker-compose.yml"
        self.images = images
        self.delay = delay

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write(self, variant: str) -> None:
        lines = [
            f"name: {self.name}",
            "services:",
            "  web:",
            f"    image: {self.images[variant]}",
            "    network_mode: host",
            "    init: true",
            "    environment:",
            f'      PORT: "{self.port}"',
        ]
        if self.delay:
            lines.append(f'      DELAY: "{self.delay}"')
        self.file.write_text("\n".join(lines) + "\n")

    def intent(self, name: str, body: str) -> None:
        (self.root / "chatops" / "intents" / f"{name}.yaml").write_text(body)

    def compose(self, *args: str) -> float:
        return sh("docker", "compose", "-f", str(self.file), *args)

    def down(self) -> None:
        sh("docker", "compose", "-f", str(self.file), "down", "-t", "1", check=False)


def copies(*variants: str) -> dict[str, str]:
    repo = f"{REGISTRY}/bench-{uuid.uuid4().hex[:8]}"
    made = {}
    for v in variants:
        sh("docker", "pull", "-q", f"{DEMO}:{v}")
        sh("docker", "tag", f"{DEMO}:{v}", f"{repo}:{v}")
        sh("docker", "push", "-q", f"{repo}:{v}")
        made[v] = f"{repo}:{v}"
    return made


def gated_stack(tmp: Path, images: dict[str, str], within: str,
                delay: str | None = None) -> Stack:
    """A stack with a 'deploy' intent whose HTTP gate polls every 100 ms."""
    stack = Stack(tmp, images, delay=delay)
    stack.intent("deploy", textwrap.dedent(f"""\
        label_required: bench
        action: rollout
        stack: {stack.name}
        service: web
        health:
          - http: {stack.url}/cgi-bin/health
            within: {within}
            interval: 100ms
        """))
    return stack


def manual(stack: Stack, poll: bool) -> float:
    """By hand, as the issue's baseline: pull && up -d, then curl every 100 ms."""
    start = time.perf_counter()
    stack.compose("pull")
    stack.compose("up", "-d")
    if poll:
        while subprocess.run(["curl", "-fsS", "-o", "/dev/null", "--max-time", "2",
                              stack.url + "/cgi-bin/health"], capture_output=True,
                             check=False).returncode != 0:
            time.sleep(0.1)
    return time.perf_counter() - start


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def bench_floor(tmp: Path, pairs: int) -> float:
    stack = Stack(tmp, copies("v1", "v2"))
    try:
        stack.write("v1")
        stack.compose("up", "-d")
        times = []
        for i in range(pairs):
            stack.write("v2" if i % 2 == 0 else "v1")
            times.append(manual(stack, poll=False))
        return median(times)
    finally:
        stack.down()


def bench_recover(tmp: Path, rounds: int, env: dict[str, str]) -> list[float]:
    stack = gated_stack(tmp, copies("v1", "bad500"), "1s")
    figures = []
    try:
        for _ in range(rounds):
            stack.write("v1")
            manual(stack, poll=True)
            stack.write("bad500")
            log = tmp / f"log-{uuid.uuid4().hex[:6]}.jsonl"
            answers: list[tuple[float, str]] = []
            stop = threading.Event()

            def poll(answers: list[tuple[float, str]] = answers,
                     stop: threading.Event = stop) -> None:
                while not stop.is_set():
                    answers.append((time.time(), get(stack.url + "/version")[1].strip()))
                    time.sleep(0.02)

            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            sh(CHATOPS, "run", "--repo", str(stack.root), "deploy",
               env={**env, "CHATOPS_LOG_FILE": str(log)}, check=False)
            # The run ends as soon as its rollback's gates pass: keep polling until the
            # poller, too, has seen the previous version answer (or 5 s).
            until = time.time() + 5
            while time.time() < until and not any(body == "v1" for _, body in answers[-3:]):
                time.sleep(0.02)
            stop.set()
            poller.join()
            failed_at = None
            for line in log.read_text().splitlines():
                entry = json.loads(line)
                if entry["msg"] == "health gate failed":
                    failed_at = datetime.strptime(entry["ts"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                    break
            if failed_at is None:
                raise SystemExit("the bad version did not fail its gate")
            back = next((t for t, body in answers if t > failed_at and body == "v1"), None)
            if back is None:
                raise SystemExit("the previous version never answered again")
            figures.append(back - failed_at)
    finally:
        stack.down()
    return figures


def peak_rss(tmp: Path, env: dict[str, str]) -> float:
    stack = gated_stack(tmp, copies("slow", "slow2"), "30s", delay="1")
    try:
        stack.write("slow")
        manual(stack, poll=True)
        stack.write("slow2")
        proc = subprocess.Popen([CHATOPS, "run", "--repo", str(stack.root), "deploy"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peak = 0
        while proc.poll() is None:
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
            except OSError:
                pass
            time.sleep(0.02)
        return peak / 1024
    finally:
        stack.down()


KEY = "bench-run-key-" + uuid.uuid4().hex


@contextlib.contextmanager
def serving(stack: Stack, env: dict[str, str]) -> Iterator[int]:
    """``chatops serve`` on the stack's repository and the bench's state directory."""
    port = free_port()
    proc = subprocess.Popen([CHATOPS, "serve", "--repo", str(stack.root), "--port", str(port)],
                            env={**env, "CHATOPS_API_KEY": KEY, "APPROVED_LABEL": "bench"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sock = Path(env["CHATOPS_STATE_DIR"]) / "chatops.sock"
    try:
        for _ in range(200):
            if sock.exists() and get(f"http://127.0.0.1:{port}/healthz")[0] == 200:
                break
            time.sleep(0.05)
        else:
            raise SystemExit("chatops serve did not start")
        yield port
    finally:
        proc.terminate()
        proc.wait(30)


def post_wait(port: int, intent: str) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    start = time.perf_counter()
    conn.request("POST", "/run", body=json.dumps({"name": intent, "wait": True}),
                 headers={"X-API-Key": KEY, "Content-Type": "application/json"})
    resp = conn.getresponse()
    body = resp.read()
    took = time.perf_counter() - start
    conn.close()
    if resp.status != 200:
        raise SystemExit(f"POST /run failed ({resp.status}): {body[-400:]!r}")
    return took


def bench_served_gate(tmp: Path, pairs: int, env: dict[str, str]
                      ) -> tuple[float, float, float, float]:
    """(chatops run via the service, POST /run wait, chatops run --local, by hand)."""
    stack = gated_stack(tmp, copies("v1", "v2"), "30s")
    try:
        stack.write("v1")
        manual(stack, poll=True)
        times: dict[str, list[float]] = {"cli": [], "post": [], "local": [], "hand": []}
        variant = "v1"
        with serving(stack, env) as port:
            ways: dict[str, Callable[[], float]] = {
                "cli": lambda: sh(CHATOPS, "run", "--repo", str(stack.root), "deploy",
                                  env=env),
                "post": lambda: post_wait(port, "deploy"),
                "local": lambda: sh(CHATOPS, "run", "--local", "--repo", str(stack.root),
                                    "deploy", env=env),
                "hand": lambda: manual(stack, poll=True),
            }
            for _ in range(pairs):
                for way, do in ways.items():
                    variant = "v2" if variant == "v1" else "v1"
                    stack.write(variant)
                    times[way].append(do())
        return (median(times["cli"]), median(times["post"]), median(times["local"]),
                median(times["hand"]))
    finally:
        stack.down()


def bench_served_no_gate(tmp: Path, pairs: int, env: dict[str, str]) -> float:
    """Median paired difference: chatops run through the service minus by hand."""
    stack = Stack(tmp, copies("v1", "v2"))
    stack.intent("deploy", f"label_required: bench\naction: rollout\nstack: {stack.name}\n"
                 "service: web\n")
    try:
        stack.write("v1")
        manual(stack, poll=False)
        diffs = []
        variant = "v1"
        with serving(stack, env):
            for _ in range(pairs):
                variant = "v2" if variant == "v1" else "v1"
                stack.write(variant)
                a = sh(CHATOPS, "run", "--repo", str(stack.root), "deploy", env=env)
                variant = "v2" if variant == "v1" else "v1"
                stack.write(variant)
                diffs.append(a - manual(stack, poll=False))
        return median(diffs)
    finally:
        stack.down()


def bench_runs(tmp: Path, pairs: int, env: dict[str, str]) -> tuple[float, float]:
    """Wall time of ``chatops runs`` against the socket, and with --local."""
    stack = Stack(tmp, copies("v1"))
    with serving(stack, env):
        sh(CHATOPS, "runs", env=env)  # warm the page cache
        through = [sh(CHATOPS, "runs", env=env) for _ in range(pairs)]
        local = [sh(CHATOPS, "runs", "--local", env=env) for _ in range(pairs)]
    return median(through), median(local)


#: The least a Python process that runs an intent must load: the event loop (Compose
#: and the gates at once), the contract's validation, YAML and the record.
FLOOR_PROGRAM = """\
import asyncio, sqlite3
import yaml
from pydantic import BaseModel, Field
class Intent(BaseModel):
    stack: str = Field(pattern=r"^[a-z0-9_-]+$")
    service: str | None = None
    health: list[dict[str, str]] = []
Intent.model_validate(yaml.safe_load("stack: web\\nservice: web\\n"))
"""


def bench_version(rounds: int) -> tuple[float, float, float]:
    """``chatops --version``, ``python -c pass`` and the floor program, interleaved,
    wall time."""
    python = str(Path(sys.executable))
    mine = [sh(CHATOPS, "--version") for _ in range(rounds)]
    bare = [sh(python, "-c", "pass") for _ in range(rounds)]
    least = [sh(python, "-c", FLOOR_PROGRAM) for _ in range(rounds)]
    return median(mine), median(bare), median(least)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=7)
    args = parser.parse_args()
    if shutil.which("docker") is None:
        raise SystemExit("docker is not installed: run scripts/harness.sh first")
    # As a wheel installs it: with its bytecode (a checkout run with
    # PYTHONDONTWRITEBYTECODE=1 would compile every module at every start).
    package = importlib.util.find_spec("chatops")
    if package is not None and package.origin is not None:
        subprocess.run([sys.executable, "-m", "compileall", "-q",
                        str(Path(package.origin).parent)], check=True)
    with tempfile.TemporaryDirectory(prefix="chatops-bench-") as tmp_name:
        tmp = Path(tmp_name)
        base = {**os.environ, "CHATOPS_STATE_DIR": str(tmp / "state"),
                "CHATOPS_LOG_FILE": str(tmp / "chatops.log")}
        short = {**base, "CHATOPS_STABILITY_WINDOW": "0.5s"}
        floor = bench_floor(tmp, args.pairs)
        cli, post, local, hand = bench_served_gate(tmp, args.pairs, base)
        ungated = bench_served_no_gate(tmp, args.pairs, short)
        runs_socket, runs_local = bench_runs(tmp, args.pairs, base)
        version, interpreter, least = bench_version(args.pairs * 3)
        recover = bench_recover(tmp, max(5, args.pairs // 2 + 2), base)
        rss = peak_rss(tmp, base)

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print(f"medians of {args.pairs} interleaved runs, wall time\n")
    print(f"  raw floor: compose pull && up -d, switching tags          {floor:6.3f} s")
    print("\n  an HTTP-gated rollout of a service that answers at once:")
    print(f"    by hand: pull && up -d, then curl every 100 ms          {hand:6.3f} s")
    print(f"    chatops run, service running (its socket)              {cli:6.3f} s  "
          f"ratio {cli / hand:.2f}  (target <= 1.15)  {verdict(cli / hand <= 1.15)}")
    print(f"    POST /run with wait                                    {post:6.3f} s  "
          f"ratio {post / hand:.2f}  (target <= 1.10)  {verdict(post / hand <= 1.10)}")
    print(f"    chatops run --local (its own process, no service)      {local:6.3f} s  "
          f"ratio {local / hand:.2f}  (target <= 1.5)  {verdict(local / hand <= 1.5)}")
    print(f"      its floor: the run's own work (POST /run wait) + a Python process that "
          f"only loads asyncio, pydantic, PyYAML and sqlite3 and validates one "
          f"model ({least * 1000:.0f} ms) = {post + least:.3f} s, ratio "
          f"{(post + least) / hand:.2f}")
    extra = ungated - 0.5
    print(f"\n  an ungated rollout through the service, 0.5 s window: paired difference "
          f"{ungated * 1000:.0f} ms = window 500 ms + {extra * 1000:.0f} ms  "
          f"(target <= 100 ms)  {verdict(extra <= 0.10)}")
    print(f"\n  chatops runs through the socket: {runs_socket * 1000:.0f} ms wall  "
          f"(target <= 80 ms)  {verdict(runs_socket <= 0.08)};  --local: "
          f"{runs_local * 1000:.0f} ms (ratio {runs_socket / runs_local:.2f})")
    print(f"  chatops --version: {version * 1000:.0f} ms wall  (target <= 25 ms)  "
          f"{verdict(version <= 0.025)};  the interpreter alone (python -c pass): "
          f"{interpreter * 1000:.0f} ms")
    rec = median(recover)
    print(f"\n  time to recover (gate failed -> previous version answers): median {rec:.2f} s "
          f"of {len(recover)} (min {min(recover):.2f}, max {max(recover):.2f})  "
          f"(target <= 3 s)  {verdict(rec <= 3)}")
    print(f"  peak RSS of chatops run --local: {rss:.1f} MB  (target <= 80 MB)  "
          f"{verdict(rss <= 80)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
