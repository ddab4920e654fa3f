"""Benchmark: ``chatops run`` on the real engine, each figure beside its baseline.

Needs scripts/harness.sh (engine, Compose, registry on 127.0.0.1:5000). Prints:
1. the raw floor: ``docker compose pull && docker compose up -d`` switching tags;
2. overhead with an HTTP gate, against pull + up + polling the health URL every 100 ms,
   on a service that takes about 1 s to answer (target: ratio at most 1.15);
3. overhead without an HTTP gate, beyond the container stability window (target: 200 ms),
   with a short window and with the default one;
4. time to recover: from a failed gate to the previous version answering again (3 s);
5. peak RSS of the chatops process (80 MB).

Usage: .venv/bin/python bench/run.py [--pairs 7]
"""

from __future__ import annotations

import argparse
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
from datetime import datetime
from pathlib import Path

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
    except OSError:
        return 0, ""


class Stack:
    def __init__(self, root: Path, images: dict[str, str], *, delay: str | None = None) -> None:
        self.name = f"bench-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.root = root / self.name
        self.dir = self.root / "stacks" / self.name
        self.dir.mkdir(parents=True)
        (self.root / "chatops" / "intents").mkdir(parents=True)
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


def chatops_run(stack: Stack, intent: str, env: dict[str, str]) -> float:
    if env.get("BENCH_IN_PROCESS"):
        return in_process(stack, intent, env)
    return sh(CHATOPS, "run", "--repo", str(stack.root), intent, env=env)


def in_process(stack: Stack, intent: str, env: dict[str, str]) -> float:
    """The same run inside an already started Python process, as the service runs it."""
    import contextlib
    import io

    from chatops.cli import run

    saved = dict(os.environ)
    os.environ.update({k: v for k, v in env.items() if k.startswith("CHATOPS_")})
    try:
        sink = io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            code = run(["run", "--repo", str(stack.root), intent])
        took = time.perf_counter() - start
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if code != 0:
        raise SystemExit(f"in-process run failed ({code}): {sink.getvalue()[-800:]}")
    return took


def manual(stack: Stack, poll: bool) -> float:
    start = time.perf_counter()
    stack.compose("pull")
    stack.compose("up", "-d")
    if poll:
        while get(stack.url + "/cgi-bin/health")[0] != 200:
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


def bench_gate(tmp: Path, pairs: int, env: dict[str, str]) -> tuple[float, float]:
    stack = gated_stack(tmp, copies("slow", "slow2"), "30s", delay="1")
    try:
        stack.write("slow")
        manual(stack, poll=True)
        ours, theirs = [], []
        variant = "slow"
        for i in range(pairs * 2):
            variant = "slow2" if variant == "slow" else "slow"
            stack.write(variant)
            if i % 2 == 0:
                ours.append(chatops_run(stack, "deploy", env))
            else:
                theirs.append(manual(stack, poll=True))
        return median(ours), median(theirs)
    finally:
        stack.down()


def bench_no_gate(tmp: Path, pairs: int, env: dict[str, str]) -> tuple[float, float]:
    stack = Stack(tmp, copies("v1", "v2"))
    stack.intent("deploy", f"label_required: bench\naction: rollout\nstack: {stack.name}\n"
                 "service: web\n")
    try:
        stack.write("v1")
        manual(stack, poll=False)
        diffs, ours = [], []
        variant = "v1"
        for _ in range(pairs):
            variant = "v2" if variant == "v1" else "v1"
            stack.write(variant)
            a = chatops_run(stack, "deploy", env)
            variant = "v2" if variant == "v1" else "v1"
            stack.write(variant)
            b = manual(stack, poll=False)
            ours.append(a)
            diffs.append(a - b)
        return median(diffs), median(ours)
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=7)
    args = parser.parse_args()
    if shutil.which("docker") is None:
        raise SystemExit("docker is not installed: run scripts/harness.sh first")
    with tempfile.TemporaryDirectory(prefix="chatops-bench-") as tmp_name:
        tmp = Path(tmp_name)
        base = {**os.environ, "CHATOPS_STATE_DIR": str(tmp / "state"),
                "CHATOPS_LOG_FILE": str(tmp / "chatops.log")}
        short = {**base, "CHATOPS_STABILITY_WINDOW": "0.5s"}
        floor = bench_floor(tmp, args.pairs)
        gate_ours, gate_manual = bench_gate(tmp, max(5, args.pairs), base)
        diff_short, ours_short = bench_no_gate(tmp, args.pairs, short)
        diff_default, ours_default = bench_no_gate(tmp, args.pairs, base)
        warm = {**short, "BENCH_IN_PROCESS": "1"}
        diff_warm, ours_warm = bench_no_gate(tmp, args.pairs, warm)
        gate_warm, gate_manual_warm = bench_gate(tmp, max(5, args.pairs),
                                                 {**base, "BENCH_IN_PROCESS": "1"})
        recover = bench_recover(tmp, max(5, args.pairs // 2 + 2), base)
        rss = peak_rss(tmp, base)

    print(f"median of {args.pairs} runs (at least 5 pairs), wall time\n")
    print(f"  raw floor: compose pull && up -d, switching tags        {floor:6.3f} s")
    ratio = gate_ours / gate_manual
    print("\n  with an HTTP gate (service answers after ~1 s):")
    print(f"    chatops run                                           {gate_ours:6.3f} s")
    print(f"    pull && up -d, then poll every 100 ms                 {gate_manual:6.3f} s")
    print(f"    ratio {ratio:.2f}  (target <= 1.15)  {'met' if ratio <= 1.15 else 'NOT met'}")
    for label, window, diff, ours in (("0.5s window", 0.5, diff_short, ours_short),
                                      ("default 2s window", 2.0, diff_default, ours_default)):
        extra = diff - window
        print(f"\n  without an HTTP gate, {label}:")
        print(f"    chatops run {ours:6.3f} s vs raw floor {floor:6.3f} s "
              f"(ratio {ours / floor:.2f})")
        print(f"    median paired difference {diff * 1000:5.0f} ms = window {window * 1000:.0f} ms"
              f" + {extra * 1000:.0f} ms  (target <= 200 ms beyond the window)  "
              f"{'met' if extra <= 0.2 else 'NOT met'}")
    print("\n  the same runs inside a started Python process (as the service runs them; "
          "no interpreter start or imports):")
    print(f"    with an HTTP gate: {gate_warm:6.3f} s vs {gate_manual_warm:6.3f} s by hand, "
          f"ratio {gate_warm / gate_manual_warm:.2f}  (target <= 1.15)  "
          f"{'met' if gate_warm / gate_manual_warm <= 1.15 else 'NOT met'}")
    print(f"    without, 0.5s window: paired difference {diff_warm * 1000:.0f} ms = window 500 ms"
          f" + {(diff_warm - 0.5) * 1000:.0f} ms  (target <= 200 ms)  "
          f"{'met' if diff_warm - 0.5 <= 0.2 else 'NOT met'}  (chatops {ours_warm:.3f} s)")
    rec = median(recover)
    print(f"\n  time to recover (gate failed -> previous version answers): median {rec:.2f} s "
          f"of {len(recover)} (min {min(recover):.2f}, max {max(recover):.2f})  "
          f"(target <= 3 s)  {'met' if rec <= 3 else 'NOT met'}")
    print(f"  peak RSS of chatops run: {rss:.1f} MB  (target <= 80 MB)  "
          f"{'met' if rss <= 80 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
