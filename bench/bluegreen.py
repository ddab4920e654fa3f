"""Benchmark: blue-green deploys under constant load, beside recreate deploys of the same
service.

Needs scripts/harness.sh (engine, Compose, the registry on 127.0.0.1:5000, HAProxy).
Everything listens on loopback. For each strategy it runs ``--rollouts`` consecutive
deploys (v1, v2, v1, ...) of a one-container web service (busybox httpd, ``init: true``)
with ``chatops run --local``, while ``--clients`` clients (half on keep-alive
connections, half opening a connection per request; GET and POST; no retries) ask all
along. Prints, side by side:

1. failed requests during the rollouts: blue-green through HAProxy (target 0) against
   recreate of the same service (the baseline);
2. new slot healthy -> traffic switched, by the run record (target <= 100 ms);
3. switch back to the standby (``chatops rollback``, five times, under the same load, its
   requests counted in 1.): from the start of the run to traffic switched, and the whole
   run in its own process (target <= 1 s);
4. a blue-green deploy's wall time against a recreate's (medians; target <= 1.3x).

Traefik is measured twice: as it comes (its reload throttle, 2 s, delays each switch) and
with ``providers.providersThrottleDuration=0s``, as docs/strategies.md advises.

Usage: .venv/bin/python bench/bluegreen.py [--rollouts 20] [--clients 8]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from loopback import allow_loopback

REGISTRY = "127.0.0.1:5000"
DEMO = f"{REGISTRY}/chatops-demo"
CHATOPS = str(Path(sys.executable).parent / "chatops")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Load:
    """Clients asking ``port`` all along; each failure (refused, reset, 5xx) is counted."""

    def __init__(self, port: int, clients: int) -> None:
        self.port = port
        self.clients = clients
        self.ok = 0
        self.failures: Counter[str] = Counter()
        self.first_failure: float | None = None  # wall clock, as the clients saw it
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(i,), daemon=True)
                         for i in range(clients)]

    def _client(self, i: int) -> None:
        keep_alive = i % 2 == 0
        post = i % 4 >= 2
        conn: http.client.HTTPConnection | None = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                if post:
                    conn.request("POST", "/cgi-bin/health", body=b"ping",
                                 headers={"Content-Type": "text/plain"})
                else:
                    conn.request("GET", "/version")
                resp = conn.getresponse()
                resp.read()
                failed = None if resp.status < 500 else f"HTTP {resp.status}"
                if resp.will_close or not keep_alive:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                failed = type(exc).__name__
                if conn is not None:
                    conn.close()
                conn = None
            with self._lock:
                if failed:
                    self.failures[failed] += 1
                    if self.first_failure is None:
                        self.first_failure = time.time()
                else:
                    self.ok += 1
            time.sleep(0.002)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(10)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


class Stack:
    def __init__(self, root: Path, name: str, driver: str, env: dict[str, str]) -> None:
        self.root, self.name, self.driver, self.env = root, name, driver, env
        self.strategy = "recreate" if driver == "recreate" else "blue-green"
        self.listen, self.blue, self.green = free_port(), free_port(), free_port()
        self.port = self.listen if self.strategy == "blue-green" else free_port()

    def write(self, tag: str) -> None:
        folder = self.root / "stacks" / self.name
        folder.mkdir(parents=True, exist_ok=True)
        port = "${CHATOPS_SLOT_PORT}" if self.strategy == "blue-green" else str(self.port)
        (folder / "docker-compose.yml").write_text(textwrap.dedent(f"""\
            name: {self.name}
            services:
              web:
                image: {DEMO}:{tag}
                network_mode: host
                init: true
                environment:
                  PORT: "{port}"
            """))

    def intent(self) -> None:
        folder = self.root / "chatops" / "intents"
        folder.mkdir(parents=True, exist_ok=True)
        allow_loopback(self.root)
        traffic = ""
        if self.strategy == "blue-green":
            traffic = textwrap.dedent(f"""\
                strategy: blue-green
                traffic:
                  driver: {self.driver}
                  listen: 127.0.0.1:{self.listen}
                  ports: {{blue: {self.blue}, green: {self.green}}}
                """) + ("  proxy_host: 1\n  drain: 2s\n" if self.driver == "npm"
                        else "  drain: 10s\n")
        (folder / "web.yaml").write_text(textwrap.dedent(f"""\
            label_required: bench
            action: rollout
            stack: {self.name}
            service: web
            health:
              - http: http://127.0.0.1:{self.port}/cgi-bin/health
                within: 20s
                interval: 100ms
            """) + traffic)

    def chatops(self, *args: str) -> float:
        start = time.perf_counter()
        done = subprocess.run([CHATOPS, *args], capture_output=True, text=True,
                              env=self.env, check=False)
        took = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"chatops {' '.join(args)} failed ({done.returncode}): "
                             f"{done.stdout[-1500:]}{done.stderr[-800:]}")
        return took

    def run(self) -> float:
        return self.chatops("run", "web", "--repo", str(self.root), "--local")

    def last(self) -> dict[str, object]:
        out = subprocess.run([CHATOPS, "runs", "--local", "--limit", "1", "--format", "json"],
                             capture_output=True, text=True, env=self.env, check=True).stdout
        return dict(json.loads(out)[0])

    def down(self) -> None:
        for project in (self.name, f"{self.name}-web-blue", f"{self.name}-web-green"):
            subprocess.run(["docker", "compose", "-p", project, "down", "-t", "1"],
                           capture_output=True, check=False)


def medians(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def seconds(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def bench_strategy(work: Path, setup: str, rollouts: int, clients: int,
                   base_env: dict[str, str]) -> dict[str, object]:
    root = work / setup
    env = dict(base_env, CHATOPS_STATE_DIR=str(root / "state"))
    driver = setup.partition("-")[0]  # traefik-0s: the traefik driver, Traefik as advised
    stack = Stack(root / "repo", f"bench-{setup}-{os.getpid()}", driver, env)
    stack.write("v1")
    stack.intent()
    try:
        with proxy(setup, root / "proxy", stack):
            stack.run()  # v1 in place before the load starts
            times: list[float] = []
            switches: list[float] = []
            backs: list[float] = []
            runs: list[float] = []
            with Load(stack.port, clients) as load:
                time.sleep(0.5)
                for i in range(rollouts):
                    stack.write("v2" if i % 2 == 0 else "v1")
                    times.append(stack.run())
                    if driver != "recreate":
                        traffic = dict(stack.last()["traffic"])  # type: ignore[call-overload]
                        switches.append(float(traffic["healthy_to_switched_ms"]))
                if driver == "haproxy":  # back to the standby, under the same load
                    for _ in range(5):
                        took = stack.chatops("rollback", stack.name, "--local")
                        record = stack.last()
                        traffic = dict(record["traffic"])  # type: ignore[call-overload]
                        backs.append(seconds(str(record["started_at"]),
                                             str(traffic["switched_at"])))
                        runs.append(took)
                time.sleep(0.5)
            result: dict[str, object] = {
                "failed": load.failed, "ok": load.ok, "kinds": dict(load.failures),
                "deploy": medians(times), "switch_ms": medians(switches)}
            if backs:
                result.update(back=medians(backs), back_run=medians(runs))
            return result
    finally:
        stack.down()


@contextlib.contextmanager
def proxy(setup: str, root: Path, stack: Stack) -> Iterator[None]:
    """Start the real proxy (or the NPM stand-in over a real nginx) in front of ``stack``;
    its settings go into the stack's environment."""
    if setup == "recreate":
        yield
        return
    if setup == "haproxy":
        from tests.proxies.haproxy import HAProxy

        haproxy = HAProxy(root)
        stack.env.update(haproxy.env())
        stack.chatops("traffic", "config", "web", "--repo", str(stack.root), "--write")
        haproxy.start()
        try:
            yield
        finally:
            haproxy.stop()
    elif setup in ("traefik", "traefik-0s"):
        from tests.proxies.traefik import Traefik

        # Traefik's default reload throttle (2 s) delays every switch; docs/strategies.md
        # advises providers.providersThrottleDuration=0s on hosts where chatops switches.
        traefik = Traefik(root, stack.listen,
                          throttle="0s" if setup == "traefik-0s" else None)
        stack.env.update(traefik.env())
        traefik.start()
        stack.chatops("traffic", "config", "web", "--repo", str(stack.root), "--write")
        try:
            yield
        finally:
            traefik.stop()
    else:
        from tests.fakes.npm import FakeNPM

        npm = FakeNPM(root)
        npm.add_host(1, listen=stack.listen, forward_port=stack.blue)
        stack.env.update(CHATOPS_NPM_URL=npm.url, CHATOPS_NPM_EMAIL=npm.email,
                         CHATOPS_NPM_PASSWORD=npm.password)
        npm.start()
        try:
            yield
        finally:
            npm.stop()


DRIVERS = ("recreate", "haproxy", "traefik", "traefik-0s", "npm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rollouts", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--drivers", default=",".join(DRIVERS),
                        help="which of " + ",".join(DRIVERS) + " to measure (traefik-0s: "
                        "Traefik with the reload throttle docs/strategies.md advises)")
    args = parser.parse_args()
    drivers = [d for d in DRIVERS if d in args.drivers.split(",")]
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the test helpers
    with tempfile.TemporaryDirectory(prefix="chatops-bench-bg-") as tmp:
        work = Path(tmp)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("CHATOPS_")}
        base_env["CHATOPS_STABILITY_WINDOW"] = "1s"
        results: dict[str, dict[str, object]] = {}
        for driver in drivers:
            print(f"... {args.rollouts} rollouts, {driver}, {args.clients} clients",
                  file=sys.stderr, flush=True)
            results[driver] = bench_strategy(work, driver, args.rollouts, args.clients,
                                             base_env)
    print(f"\nblue-green benchmark: {args.rollouts} consecutive rollouts each, "
          f"{args.clients} clients (half keep-alive; GET and POST; no retries)\n")
    names = {"recreate": "recreate (base)", "haproxy": "bg HAProxy", "traefik": "bg Traefik",
             "traefik-0s": "Traefik 0s", "npm": "bg NPM+nginx"}
    print(f"{'':40}" + "".join(f"{names[d]:>16}" for d in drivers))
    rows = [("failed requests", lambda r: f"{r['failed']}"),
            ("requests answered", lambda r: f"{r['ok']}"),
            ("deploy wall time (median)", lambda r: f"{r['deploy']:.2f}s"),
            ("healthy -> switched (median)",
             lambda r: f"{r['switch_ms']:.1f}ms" if r["switch_ms"] == r["switch_ms"]
             else "-")]
    for label, cell in rows:
        print(f"{label:40}" + "".join(f"{cell(results[d]):>16}" for d in drivers))
    for d in drivers:
        if results[d]["kinds"]:
            print(f"  {names[d]} failures: {results[d]['kinds']}")
    if "recreate" in results:
        base = float(results["recreate"]["deploy"])  # type: ignore[arg-type]
        for d in drivers[1:]:
            ratio = float(results[d]["deploy"]) / base  # type: ignore[arg-type]
            print(f"deploy time, {names[d]} / recreate: {ratio:.2f}x"
                  + ("  (target <= 1.3x)" if d == "haproxy" else ""))
    if "haproxy" in results:
        r = results["haproxy"]
        print(f"HAProxy: healthy -> switched {r['switch_ms']:.1f} ms (target <= 100 ms); "
              f"rollback to the standby: start -> traffic switched {r['back']:.2f}s "
              f"(target <= 1 s), whole run {r['back_run']:.2f}s")


if __name__ == "__main__":
    main()
