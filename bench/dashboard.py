"""Benchmark: the dashboard with 10,000 runs in the history, and its live log.

1. Server time. A run history of 10,000 runs (each with steps, gates and log lines) is
   written, then ``chatops serve`` starts on it. A signed-in client asks, one after
   another, for the runs page (first page, a filtered page, a page deep in the history)
   and a run's detail page; beside each, the JSON the API gives for the same thing.
   Target: p95 <= 100 ms for the pages.
2. A line's way to the browser. A real deploy (the demo image on the harness's engine)
   whose hook prints a line with the time every 50 ms; Debian's Chromium shows the run's
   page, and a MutationObserver notes when each line arrives. Beside it, a plain client
   of the API's SSE log for the same run. Target: p95 <= 250 ms from print to browser.

Needs scripts/harness.sh (engine, registry, demo images) and Debian's chromium.
Usage: .venv/bin/python bench/dashboard.py [--runs 10000] [--requests 60]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from loopback import allow_loopback

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench password, long enough"  # noqa: S105 - a throwaway user
DEMO = "127.0.0.1:5000/chatops-demo:v1"
STATUSES = ["succeeded"] * 7 + ["failed", "rolled_back", "interrupted"]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fill_history(db: Path, count: int) -> str:
    """``count`` runs with 6 steps, 2 gates and 40 log lines each; returns one run id."""
    sys.path.insert(0, str(ROOT / "src"))
    from chatops.store.sqlite import RunStore

    RunStore(db).close()  # the schema
    con = sqlite3.connect(db)
    start = datetime.now(UTC) - timedelta(days=60)
    runs, stacks, steps, gates, lines = [], [], [], [], []
    rng = random.Random(7)
    for i in range(count):
        rid = f"20260101-{i:06d}-{rng.randrange(16**6):06x}"
        at = (start + timedelta(minutes=9 * i)).isoformat(timespec="milliseconds")
        status = rng.choice(STATUSES)
        intent = f"rollout_stack_{i % 40}"
        runs.append((rid, intent, rng.choice(["api", "webhook", "ui", "cli", "chat"]),
                     rng.choice(["ci", "alice", "bob"]), "127.0.0.1", "a" * 40, status,
                     f"{status} after 6 steps", 0, 1, at, at, at, 1, "bench",
                     json.dumps({"intent": intent, "steps": []})))
        stacks.append((rid, f"stack-{i % 40}"))
        for seq in range(1, 7):
            steps.append((rid, seq, 1, "deploy", f"step {seq}", json.dumps(
                ["docker", "compose", "-f", "stacks/x/docker-compose.yml", "up", "-d"]),
                at, 0, 0, None, 0.5, "ok"))
        for seq in range(1, 3):
            gates.append((rid, seq, 1, "deploy", "http", "GET http://127.0.0.1/health",
                          1, "answered 200", 0.2))
        for n in range(40):
            lines.append((rid, at, "stdout", f"line {n} of run {rid}: Container up"))
    con.executemany("INSERT INTO runs (id, intent, trigger, actor, client, sha, status, "
                    "reason, dry_run, changed, created_at, started_at, ended_at, pid, "
                    "host, plan) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", runs)
    con.executemany("INSERT INTO run_stacks VALUES (?,?)", stacks)
    con.executemany("INSERT INTO steps VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", steps)
    con.executemany("INSERT INTO gates VALUES (?,?,?,?,?,?,?,?,?)", gates)
    con.executemany("INSERT INTO log (run_id, ts, stream, line) VALUES (?,?,?,?)", lines)
    con.commit()
    con.close()
    return runs[count // 2][0]


def timed(client: httpx.Client, path: str, n: int) -> list[float]:
    out = []
    client.get(path)  # warm
    for _ in range(n):
        start = time.perf_counter()
        resp = client.get(path)
        out.append(time.perf_counter() - start)
        if resp.status_code != 200:
            raise SystemExit(f"{path} answered {resp.status_code}: {resp.text[:300]}")
    return out


def sign_in(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/login").text)
    if token is None:
        raise SystemExit("the sign-in page has no CSRF token")
    done = client.post("/ui/login", data={"csrf": token.group(1), "name": "bench",
                                          "password": PASSWORD})
    if done.status_code != 303:
        raise SystemExit(f"sign-in failed: {done.status_code}")
    return client


HOOK = ("import time\nfor i in range(60):\n    print(f'T {time.time() * 1000:.1f} line {i}', "
        "flush=True)\n    time.sleep(0.05)\n")
OBSERVE = """
window.__seen = [];
document.addEventListener('DOMContentLoaded', () => {
  const log = document.getElementById('log');
  if (!log) return;
  new MutationObserver((changes) => {
    const now = Date.now();
    for (const change of changes) for (const node of change.addedNodes)
      window.__seen.push([now, node.textContent || '']);
  }).observe(log, {childList: true});
});
"""


def live_lines(url: str, repo: Path, state: Path) -> tuple[list[float], list[float]]:
    """(browser latencies, API SSE client latencies) in ms, print to arrival."""
    from playwright.sync_api import sync_playwright

    key = os.environ["BENCH_KEY"]
    started = httpx.post(url + "/run", json={"name": "stream_demo"}, timeout=30,
                         headers={"x-api-key": key})
    run_id = started.json()["id"]
    api_seen: list[tuple[float, str]] = []

    def sse() -> None:
        with httpx.stream("GET", f"{url}/runs/{run_id}/log", timeout=120,
                          headers={"x-api-key": key}) as resp:
            for raw in resp.iter_lines():
                if raw.startswith("data: "):
                    api_seen.append((time.time() * 1000, raw))

    reader = threading.Thread(target=sse, daemon=True)
    reader.start()
    profile = tempfile.mkdtemp(prefix="bench-chromium-")
    with sync_playwright() as play:
        context = play.chromium.launch_persistent_context(
            profile, executable_path="/usr/bin/chromium", headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"])
        context.add_cookies([{"name": "chatops_session", "value": sign_in(url).cookies[
            "chatops_session"], "url": url + "/ui"}])
        page = context.new_page()
        page.add_init_script(OBSERVE)
        page.goto(f"{url}/ui/runs/{run_id}")
        page.locator("#outcome .status").wait_for(timeout=120_000)
        seen = page.evaluate("window.__seen")
        context.close()
    reader.join(30)
    browser = [now - float(m.group(1)) for now, text in seen
               if (m := re.search(r"T (\d+\.\d)", text))]
    api = [now - float(m.group(1)) for now, text in api_seen
           if (m := re.search(r"T (\d+\.\d)", text))]
    return browser, api


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests import served

    with tempfile.TemporaryDirectory(prefix="chatops-bench-ui-") as tmp:
        repo, state = Path(tmp) / "repo", Path(tmp) / "state"
        port = free_port()
        (repo / "stacks" / "benchui").mkdir(parents=True)
        (repo / "stacks" / "benchui" / "docker-compose.yml").write_text(
            f"name: benchui\nservices:\n  web:\n    image: {DEMO}\n    network_mode: host\n"
            f"    init: true\n    environment:\n      PORT: \"{port}\"\n")
        (repo / "chatops" / "intents").mkdir(parents=True)
        allow_loopback(repo)
        (repo / "chatops" / "intents" / "stream_demo.yaml").write_text(
            "label_required: approved\naction: rollout\nstack: benchui\nservice: web\n"
            f"hooks:\n  pre_deploy:\n    - {json.dumps([sys.executable, '-c', HOOK])}\n")
        state.mkdir()
        t0 = time.perf_counter()
        one = fill_history(state / "chatops.sqlite3", args.runs)
        filled = time.perf_counter() - t0
        env = {**os.environ, "CHATOPS_STATE_DIR": str(state)}
        subprocess.run([sys.executable, "-m", "chatops", "users", "add", "bench", "--scopes",
                        "read,run", "--password-stdin"], input=PASSWORD + "\n", env=env,
                       text=True, check=True, capture_output=True)
        service = served.start(repo, state, env={"CHATOPS_RATE_PER_ADDRESS": "100000",
                                                 "CHATOPS_BURST_PER_ADDRESS": "100000",
                                                 "CHATOPS_RATE_PER_KEY": "100000",
                                                 "CHATOPS_BURST_PER_KEY": "100000"})
        os.environ["BENCH_KEY"] = served.KEY
        try:
            ui = sign_in(service.url)
            api = httpx.Client(base_url=service.url, timeout=30,
                               headers={"x-api-key": served.KEY})
            n = args.requests
            rows = [
                ("runs page (newest 50)", timed(ui, "/ui/runs", n),
                 timed(api, "/runs?limit=50", n)),
                ("runs page, status=failed", timed(ui, "/ui/runs?status=failed", n),
                 timed(api, "/runs?limit=50&status=failed", n)),
                ("runs page at offset 5,000", timed(ui, "/ui/runs?offset=5000", n),
                 timed(api, "/runs?limit=50&offset=5000", n)),
                ("run detail (6 steps, 40 lines)", timed(ui, f"/ui/runs/{one}", n),
                 timed(api, f"/runs/{one}", n)),
            ]
            browser, sse = live_lines(service.url, repo, state)
        finally:
            service.stop()
            subprocess.run(["docker", "compose", "-p", "benchui", "down", "-t", "1"],
                           capture_output=True, check=False)
    print(f"\ndashboard with {args.runs:,} runs in the history (written in {filled:.1f} s); "
          f"{args.requests} requests each, one after another\n")
    print(f"{'':34}{'page p50':>10}{'page p95':>10}{'API JSON p50':>14}{'p95':>8}"
          f"{'ratio p95':>11}")
    for name, page, base in rows:
        print(f"{name:34}{pct(page, .5) * 1000:>8.1f}ms{pct(page, .95) * 1000:>8.1f}ms"
              f"{pct(base, .5) * 1000:>12.1f}ms{pct(base, .95) * 1000:>6.1f}ms"
              f"{pct(page, .95) / pct(base, .95):>10.2f}x")
    print("   (target: page p95 <= 100 ms)\n")
    print(f"a log line from print to screen, {len(browser)} lines of a real deploy's hook")
    print(f"{'':34}{'p50':>10}{'p95':>10}{'max':>10}")
    print(f"{'browser (/ui stream, htmx SSE)':34}{pct(browser, .5):>8.1f}ms"
          f"{pct(browser, .95):>8.1f}ms{max(browser):>8.1f}ms   (target p95 <= 250 ms)")
    print(f"{'API SSE client (/runs/ID/log)':34}{pct(sse, .5):>8.1f}ms{pct(sse, .95):>8.1f}ms"
          f"{max(sse):>8.1f}ms")


if __name__ == "__main__":
    main()
