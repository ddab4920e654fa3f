"""Benchmark: four independent stacks in one orchestrated run, against one after another.

Target (orchestration issue): the orchestrated run takes at most 1.5x the slowest single
stack. Each stack is a busybox service that starts answering after ~1 s, with an HTTP gate;
each round switches every stack to its other tag. Needs scripts/harness.sh.

Usage: .venv/bin/python bench/orchestrate.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loopback import allow_loopback
from run import copies, free_port

CHATOPS = str(Path(sys.executable).parent / "chatops")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chatops-bench-") as tmp_name:
        tmp = Path(tmp_name)
        repo = tmp / "repo"
        (repo / "chatops" / "intents").mkdir(parents=True)
        allow_loopback(repo)
        images = copies("slow", "slow2")
        stacks, projects = [], []
        for i in range(4):
            name, project, port = f"s{i}", f"bo-{uuid.uuid4().hex[:6]}", free_port()
            stacks.append((name, project, port))
            projects.append(project)
            (repo / "chatops" / "intents" / f"deploy_{name}.yaml").write_text(
                f"label_required: b\naction: rollout\nstack: {name}\nservice: web\nhealth:\n"
                f"  - http: http://127.0.0.1:{port}/cgi-bin/health\n    within: 30s\n"
                "    interval: 100ms\n")
        env = {**os.environ, "CHATOPS_STATE_DIR": str(tmp / "state"),
               "CHATOPS_LOG_FILE": str(tmp / "log"), "CHATOPS_MAX_PARALLEL": "4"}

        def write(variant: str) -> None:
            for name, project, port in stacks:
                folder = repo / "stacks" / name
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "docker-compose.yml").write_text(
                    f"name: {project}\nservices:\n  web:\n    image: {images[variant]}\n"
                    f"    network_mode: host\n    init: true\n    environment:\n"
                    f"      PORT: \"{port}\"\n      DELAY: \"1\"\n")

        def timed(*argv: str) -> float:
            start = time.perf_counter()
            done = subprocess.run([CHATOPS, "run", "--repo", str(repo), *argv], env=env,
                                  capture_output=True, text=True, check=False)
            took = time.perf_counter() - start
            if done.returncode != 0:
                raise SystemExit(f"chatops run {' '.join(argv)} failed: {done.stdout[-600:]}")
            return took

        names = [f"deploy_{n}" for n, _, _ in stacks]
        variant = "slow"
        write(variant)
        timed(*names)
        together, sequential, slowest = [], [], []
        try:
            for _ in range(args.rounds):
                variant = "slow2" if variant == "slow" else "slow"
                write(variant)
                together.append(timed(*names))
                variant = "slow2" if variant == "slow" else "slow"
                write(variant)
                singles = [timed(n) for n in names]
                sequential.append(sum(singles))
                slowest.append(max(singles))
        finally:
            for project in projects:
                subprocess.run(["docker", "compose", "-p", project, "down", "-t", "1"],
                               capture_output=True, check=False)
    t, q, s = (statistics.median(x) for x in (together, sequential, slowest))
    print(f"4 independent stacks (~1 s start each, HTTP gate), median of {args.rounds} rounds\n")
    print(f"  one orchestrated run (chatops run A B C D)   {t:6.2f} s")
    print(f"  one after another (four chatops run)         {q:6.2f} s")
    print(f"  slowest single stack                         {s:6.2f} s")
    print(f"\n  orchestrated / slowest single: {t / s:.2f}x  (target <= 1.5x)  "
          f"{'met' if t / s <= 1.5 else 'NOT met'};  sequential / orchestrated: {q / t:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
