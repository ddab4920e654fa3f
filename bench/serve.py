"""Benchmark: ``chatops serve`` under a flood of bad keys, beside adnanh/webhook.

Loopback only, bounded in time. Needs wrk and webhook (Debian packages of those names)
and, for the accept-latency figures, scripts/harness.sh. Prints:
1. refusing a wrong key on POST /run, wrk with 64 connections for 5 s, ``--rounds``
   floods of each server alternating (medians): requests/s and p99 for chatops (default
   settings: the lockout answers the flood), for chatops with the lockout and rate limits
   lifted (every request checks the key), and for webhook refusing a wrong header
   secret; the ratio to webhook (target >= 0.14x, p99 <= 15 ms; the speed issue's:
   >= 0.5x, p99 below webhook's);
2. a good POST /run from 127.0.0.2 during that flood: p99 accept latency (<= 50 ms);
3. POST /run accept latency while another stack deploys: p99 (<= 30 ms);
4. idle RSS of chatops serve (<= 90 MB).

Usage: .venv/bin/python bench/serve.py [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from loopback import allow_loopback

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-good-key-" + uuid.uuid4().hex


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing answered on port {port}")


def parse_wrk(text: str) -> tuple[float, float]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return rps, p99


def wrk(url: str, headers: dict[str, str], body: str, seconds: int, tmp: Path) -> str:
    script = tmp / f"wrk-{uuid.uuid4().hex[:6]}.lua"
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body)}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    script.write_text("\n".join(lines) + "\n")
    done = subprocess.run(["wrk", "-t", "2", "-c", "64", "-d", f"{seconds}s", "--latency",
                           "-s", str(script), url], capture_output=True, text=True, check=True)
    return done.stdout


PROJECTS: list[str] = []


def start_chatops(tmp: Path, env_extra: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    repo = tmp / f"repo-{uuid.uuid4().hex[:6]}"
    shutil.copytree(ROOT / "examples" / "demo", repo)
    for stack in ("bench-a", "bench-b"):
        port = free_port()
        project = f"{stack}-{uuid.uuid4().hex[:6]}"
        PROJECTS.append(project)
        (repo / "stacks" / stack).mkdir(parents=True)
        (repo / "stacks" / stack / "docker-compose.yml").write_text(
            f"name: {project}\nservices:\n  web:\n"
            "    image: 127.0.0.1:5000/chatops-demo:slow\n    network_mode: host\n"
            f"    init: true\n    environment:\n      PORT: \"{port}\"\n      DELAY: \"3\"\n")
    intents = repo / "chatops" / "intents"
    allow_loopback(repo)
    (intents / "pull_a.yaml").write_text("label_required: ok\naction: pull\nstack: bench-a\n")
    (intents / "pull_b.yaml").write_text("label_required: ok\naction: pull\nstack: bench-b\n")
    (intents / "deploy_a.yaml").write_text("label_required: ok\naction: rollout\n"
                                           "stack: bench-a\n")
    port = free_port()
    env = {**os.environ, "CHATOPS_API_KEY": KEY, "APPROVED_LABEL": "ok",
           "CHATOPS_STATE_DIR": str(tmp / f"state-{port}"), **env_extra}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "chatops"), "serve",
                             "--repo", str(repo), "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


def post(port: int, body: dict[str, object], source: str = "127.0.0.1") -> tuple[int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                      source_address=(source, 0))
    start = time.perf_counter()
    conn.request("POST", "/run", body=json.dumps(body),
                 headers={"X-API-Key": KEY, "Content-Type": "application/json"})
    status = conn.getresponse().status
    took = (time.perf_counter() - start) * 1000
    conn.close()
    return status, took


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


LIFTED = {"CHATOPS_LOCKOUT_FAILURES": "100000000", "CHATOPS_KEY_FAILURE_BUDGET": "100000000",
          "CHATOPS_RATE_PER_ADDRESS": "100000000", "CHATOPS_BURST_PER_ADDRESS": "100000000"}


def start_webhook(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    """adnanh/webhook, refusing a wrong header secret as chatops refuses a wrong key."""
    hooks = tmp / "hooks.json"
    hooks.write_text(json.dumps([{
        "id": "run", "execute-command": "/bin/true",
        "trigger-rule": {"match": {"type": "value", "value": KEY,
                                   "parameter": {"source": "header", "name": "X-API-Key"}}},
    }]))
    port = free_port()
    proc = subprocess.Popen(["webhook", "-hooks", str(hooks), "-ip", "127.0.0.1", "-port",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


def flood_with_a_good_caller(port: int, seconds: int, tmp: Path
                             ) -> tuple[float, float, list[int], list[float]]:
    """The wrong-key flood again, while a good client calls from 127.0.0.2: the flood's
    (req/s, p99), and the good calls' statuses and times."""
    legit: list[float] = []
    statuses: list[int] = []
    stop = threading.Event()

    def good_caller() -> None:
        while not stop.is_set():
            status, took = post(port, {"name": "pull_b"}, source="127.0.0.2")
            statuses.append(status)
            legit.append(took)
            time.sleep(0.2)

    caller = threading.Thread(target=good_caller, daemon=True)
    caller.start()
    rps, late = parse_wrk(wrk(f"http://127.0.0.1:{port}/run", BAD, BODY, seconds, tmp))
    stop.set()
    caller.join()
    return rps, late, statuses, legit


def accept_latency(port: int) -> list[float]:
    """POST /run accept times while another stack deploys (a 3 s start behind a rollout)."""
    post(port, {"name": "deploy_a"})
    time.sleep(0.3)
    accept = []
    for _ in range(50):
        status, took = post(port, {"name": "pull_b"})
        if status == 200:
            accept.append(took)
        time.sleep(0.05)
    return accept


BAD = {"X-API-Key": "wrong-key", "Content-Type": "application/json"}
BODY = json.dumps({"name": "pull_a"})


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3,
                        help="floods of each server, alternating (medians)")
    args = parser.parse_args()
    for tool in ("wrk", "webhook"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install {tool})")
    with tempfile.TemporaryDirectory(prefix="chatops-bench-") as name:
        tmp = Path(name)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            webhook, wport = start_webhook(tmp)
            procs.append(webhook)
            defaults, cport = start_chatops(tmp, {})  # the lockout answers the flood
            procs.append(defaults)
            lifted, kport = start_chatops(tmp, LIFTED)  # every request checks the key
            procs.append(lifted)
            time.sleep(1.0)
            idle = rss_mb(defaults.pid)
            urls = {"webhook": f"http://127.0.0.1:{wport}/hooks/run",
                    "defaults": f"http://127.0.0.1:{cport}/run",
                    "lifted": f"http://127.0.0.1:{kport}/run"}
            floods: dict[str, list[tuple[float, float]]] = {k: [] for k in urls}
            for r in range(args.rounds):
                for who in (urls if r % 2 == 0 else reversed(urls)):
                    floods[who].append(parse_wrk(wrk(urls[who], BAD, BODY, args.seconds,
                                                     tmp)))
            f_rps, f_p99, statuses, legit = flood_with_a_good_caller(cport, args.seconds, tmp)
            accept = accept_latency(kport)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(60)

    for project in PROJECTS:
        subprocess.run(["docker", "compose", "-p", project, "down", "-t", "1"],
                       capture_output=True, check=False)
    med = {who: (statistics.median(r for r, _ in runs), statistics.median(p for _, p in runs))
           for who, runs in floods.items()}
    (w_rps, w_p99), (c_rps, c_p99), (k_rps, k_p99) = med["webhook"], med["defaults"], \
        med["lifted"]
    print(f"wrk: 64 connections, {args.seconds} s, POST with a wrong key, loopback; medians "
          f"of {args.rounds} floods each, alternating\n")
    print(f"  adnanh/webhook (wrong header secret)   {w_rps:9.0f} req/s   p99 {w_p99:6.1f} ms")
    print(f"  chatops serve, defaults (lockout)     {c_rps:9.0f} req/s   p99 {c_p99:6.1f} ms"
          f"   {c_rps / w_rps:.2f}x webhook")
    print(f"  chatops serve, lockout/limits lifted  {k_rps:9.0f} req/s   p99 {k_p99:6.1f} ms"
          f"   {k_rps / w_rps:.2f}x webhook")
    for who, runs in floods.items():
        print(f"    {who}: " + ", ".join(f"{r:.0f}" for r, _ in runs) + " req/s")
    for label, rps, lat in (("defaults", c_rps, c_p99), ("lifted", k_rps, k_p99)):
        ok = rps / w_rps >= 0.14 and lat <= 15
        print(f"    {label}: target >= 0.14x webhook and p99 <= 15 ms: "
              f"{'met' if ok else 'NOT met'}")
        ok = rps / w_rps >= 0.5 and lat < w_p99
        print(f"    {label}: speed issue's target >= 0.5x webhook, p99 below webhook's: "
              f"{'met' if ok else 'NOT met'}")
    if legit:
        good = statuses.count(200)
        print(f"\n  the flood again, with a good client calling from 127.0.0.2: {f_rps:.0f} req/s,"
              f" p99 {f_p99:.1f} ms")
        print(f"  good POST /run from 127.0.0.2 during the flood: {good}/{len(statuses)} "
              f"accepted, p99 {p99(legit):.1f} ms, median {statistics.median(legit):.1f} ms"
              f"  (target p99 <= 50 ms)  {'met' if p99(legit) <= 50 and good else 'NOT met'}")
    if accept:
        print(f"  POST /run accept latency while another stack deploys: p99 "
              f"{p99(accept):.1f} ms, median {statistics.median(accept):.1f} ms over "
              f"{len(accept)}  (target <= 30 ms)  {'met' if p99(accept) <= 30 else 'NOT met'}")
    print(f"  idle RSS of chatops serve: {idle:.1f} MB  (target <= 90 MB)  "
          f"{'met' if idle <= 90 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
