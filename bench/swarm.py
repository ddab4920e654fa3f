"""Benchmark: a 3-replica Swarm update (parallelism 1) through chatops, against doing it
by hand: ``docker stack deploy`` then polling the service's ``UpdateStatus`` (and its
tasks) until the update completed.

A single-node swarm on the harness's engine (joined here, left at the end unless it was
active already). Each round updates the service to the other demo image (v1 ↔ v2); both
ways use the same file, the same registry and the same update_config. Medians of several
rounds, side by side. Target: chatops <= 1.2x by hand.

Then a crashing image (the demo's ``crash``): how long after its first task failed the
service runs the old image again, through chatops (which reads the tasks' state and rolls
back at once) and by hand (Swarm's own ``failure_action: rollback`` after its update
monitor). Target: chatops <= 5 s.

Usage: .venv/bin/python bench/swarm.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = "127.0.0.1:5000/chatops-demo"


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True,
                          timeout=300).stdout


def write(file: Path, image: str, base: int) -> None:
    file.write_text(textwrap.dedent(f"""\
        version: "3.8"
        services:
          web:
            image: {image}
            init: true
            environment:
              PORT: "{base}{{{{.Task.Slot}}}}"
            networks: [hostnet]
            deploy:
              replicas: 3
              update_config: {{parallelism: 1, order: stop-first, monitor: 1s, delay: 0s,
                               failure_action: rollback}}
        networks:
          hostnet:
            external: true
            name: host
        """))


def by_hand(file: Path, stack: str) -> float:
    start = time.perf_counter()
    before = docker("service", "inspect", f"{stack}_web", "--format",
                    "{{json .UpdateStatus}}")
    docker("stack", "deploy", "-c", str(file), "--with-registry-auth", "--resolve-image",
           "always", stack)
    while True:
        status = json.loads(docker("service", "inspect", f"{stack}_web", "--format",
                                   "{{json .UpdateStatus}}") or "null") or {}
        if json.dumps(status) != before.strip() and status.get("State") == "completed":
            running = docker("service", "ps", f"{stack}_web", "--filter",
                             "desired-state=running", "--format", "{{.CurrentState}}")
            if sum(line.startswith("Running") for line in running.splitlines()) == 3:
                return time.perf_counter() - start
        if status.get("State", "").startswith("rollback") or status.get("State") == "paused":
            raise SystemExit(f"the update failed by hand: {status}")
        time.sleep(0.25)


def first_failure(stack: str, image: str, since: float) -> float:
    """The epoch time of the first task of ``image`` (a tag, or the digest chatops pins it
    by) that failed after ``since``."""
    digests = {d.split("@", 1)[1] for d in
               json.loads(docker("image", "inspect", image))[0]["RepoDigests"]}
    ids = docker("service", "ps", "-q", "--no-trunc", f"{stack}_web").split()
    # A task Swarm drops between the two calls is missing from the answer, not an error.
    listed = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True,
                            check=False, timeout=60).stdout if ids else ""
    found = []
    for task in json.loads(listed or "[]"):
        spec = task["Spec"]["ContainerSpec"]["Image"]
        status = task["Status"]
        ours = spec.startswith(image) or spec.rpartition("@")[2] in digests
        if status["State"] in ("failed", "rejected") and ours:
            stamp = status["Timestamp"][:26].rstrip("Z")
            when = time.mktime(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) \
                - time.timezone + float("0" + stamp[19:] if stamp[19:] else 0)
            if when >= since - 1:
                found.append(when)
    if not found:
        raise SystemExit(f"no failed task of {image} in {stack}")
    return min(found)


def back_on(stack: str, image: str) -> bool:
    """Whether the stack's service is set to ``image``: by its digest when ``image`` has
    one (an image pushed under several names has a digest under each)."""
    spec = json.loads(docker("service", "inspect", f"{stack}_web"))[0]["Spec"]
    now = spec["TaskTemplate"]["ContainerSpec"]["Image"]
    if "@" in image:
        return now.endswith("@" + image.split("@", 1)[1])
    return now.startswith(image)


def crash_by_hand(file: Path, stack: str, good: str) -> float | None:
    """Seconds from the first failed task to Swarm's own rollback completed; None when
    Swarm paused its own rollback instead (then the good image is deployed again here)."""
    began = time.time()
    docker("stack", "deploy", "-c", str(file), "--with-registry-auth", "--resolve-image",
           "always", stack)
    while True:
        status = json.loads(docker("service", "inspect", f"{stack}_web", "--format",
                                   "{{json .UpdateStatus}}") or "null") or {}
        if status.get("State") == "rollback_completed" and back_on(stack, good):
            return time.time() - first_failure(stack, f"{DEMO}:crash", began)
        if status.get("State") == "rollback_paused" or time.time() - began > 120:
            print(f"  by hand: Swarm's own rollback stopped: {status}", flush=True)
            text = file.read_text()
            file.write_text(text.replace(f"{DEMO}:crash", good))
            docker("stack", "deploy", "-c", str(file), stack)
            while not back_on(stack, good):
                time.sleep(0.2)
            time.sleep(5)  # settled again
            file.write_text(text)
            return None
        time.sleep(0.1)


def crashes(  # noqa: PLR0917 - the bench's own parts, named at its one call
        count: int, files: dict[str, Path], stacks: dict[str, str], base: int, good: str,
        run: list[str], env: dict[str, str]) -> tuple[list[float], list[float]]:
    """(chatops, by hand): seconds from a crashing image's first failed task to the
    service on the good image again, ``count`` times each."""
    docker("pull", "-q", f"{DEMO}:crash")
    pinned = json.loads(docker("image", "inspect", good))[0]["RepoDigests"][0]
    ours, hand = [], []
    for _ in range(count):
        write(files["hand"], f"{DEMO}:crash", base + 1)
        took = crash_by_hand(files["hand"], stacks["hand"], good)  # good again
        if took is not None:
            hand.append(took)
        write(files["chatops"], f"{DEMO}:crash", base)
        began = time.time()
        done = subprocess.run(run, env=env, capture_output=True, text=True, check=False)
        ended = time.time()
        if done.returncode != 2 or not back_on(stacks["chatops"], pinned):
            spec = json.loads(docker("service", "inspect", f"{stacks['chatops']}_web"))[0]
            now = spec["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
            raise SystemExit(f"the crash was not rolled back (exit {done.returncode}; the "
                             f"service runs {now}, not {pinned}): " + done.stdout[-2000:])
        ours.append(ended - first_failure(stacks["chatops"], f"{DEMO}:crash", began))
        write(files["chatops"], good, base)
    return ours, hand


def report(ours: list[float], hand: list[float], crash_ours: list[float],
           crash_hand: list[float]) -> None:
    mine, theirs = statistics.median(ours), statistics.median(hand)
    print(f"\nSwarm update of 3 replicas (parallelism 1, monitor 1s), medians of "
          f"{len(ours)}\n")
    print(f"{'by hand: stack deploy + polling UpdateStatus':48}{theirs:>8.2f}s")
    print(f"{'chatops run (pins, deploy, UpdateStatus, gate)':48}{mine:>8.2f}s"
          f"{mine / theirs:>8.2f}x   (target <= 1.2x)")
    c_mine = statistics.median(crash_ours)
    print(f"\nA crashing image, from its first failed task to the old image back, medians "
          f"of {len(crash_ours)}\n")
    if crash_hand:
        c_theirs = statistics.median(crash_hand)
        print(f"{'by hand: Swarm failure_action rollback':48}{c_theirs:>8.2f}s"
              f"   ({len(crash_hand)} of {len(crash_ours)} rolled back by Swarm)")
    else:
        print(f"{'by hand: Swarm failure_action rollback':48}  Swarm paused its own "
              f"rollback each time ({len(crash_ours)})")
    print(f"{'chatops run (tasks read, back to the digest)':48}{c_mine:>8.2f}s"
          f"   (target <= 5 s: {'met' if c_mine <= 5 else 'NOT met'})")



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--crashes", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    active = docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip() == "active"
    if not active:
        docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    base = random.randrange(200, 600)
    stacks = {"chatops": f"bsc{base}", "hand": f"bsh{base}"}
    with tempfile.TemporaryDirectory(prefix="chatops-bench-swarm-") as tmp:
        repo = Path(tmp) / "repo"
        intents = repo / "chatops" / "intents"
        intents.mkdir(parents=True)
        files = {}
        for who, stack in stacks.items():
            (repo / "stacks" / stack).mkdir(parents=True)
            files[who] = repo / "stacks" / stack / "docker-compose.yml"
        port = base * 10 + 1
        (intents / "swarm_web.yaml").write_text(
            f"label_required: approved\naction: rollout\nstack: {stacks['chatops']}\n"
            f"engine: swarm\nhealth:\n  - http: http://127.0.0.1:{port}/cgi-bin/health\n"
            "    within: 20s\n    interval: 50ms\n")
        env = {**os.environ, "CHATOPS_STATE_DIR": str(Path(tmp) / "state")}
        env.pop("CHATOPS_CONFIG", None)
        try:
            for tag in ("v1", "v2"):
                docker("pull", "-q", f"{DEMO}:{tag}")
            write(files["hand"], f"{DEMO}:v1", base + 1)
            docker("stack", "deploy", "-c", str(files["hand"]), stacks["hand"])
            write(files["chatops"], f"{DEMO}:v1", base)
            subprocess.run([sys.executable, "-m", "chatops", "run", "swarm_web", "--local",
                            "--repo", str(repo)], env=env, check=True, capture_output=True)
            time.sleep(5)  # both stacks settled on v1
            ours, hand = [], []
            for i in range(args.rounds):
                image = f"{DEMO}:{'v2' if i % 2 == 0 else 'v1'}"
                write(files["hand"], image, base + 1)
                hand.append(by_hand(files["hand"], stacks["hand"]))
                write(files["chatops"], image, base)
                start = time.perf_counter()
                done = subprocess.run([sys.executable, "-m", "chatops", "run", "swarm_web",
                                       "--local", "--repo", str(repo)], env=env,
                                      capture_output=True, text=True, check=False)
                ours.append(time.perf_counter() - start)
                if done.returncode != 0:
                    raise SystemExit(done.stdout + done.stderr)
            good = f"{DEMO}:{'v2' if args.rounds % 2 else 'v1'}"
            crash_ours, crash_hand = crashes(args.crashes, files, stacks, base, good,
                                             [sys.executable, "-m", "chatops", "run",
                                              "swarm_web", "--local", "--repo", str(repo)],
                                             env)
        finally:
            for stack in stacks.values():
                subprocess.run(["docker", "stack", "rm", stack], capture_output=True,
                               check=False)
            if not active:
                time.sleep(3)
                subprocess.run(["docker", "swarm", "leave", "--force"], capture_output=True,
                               check=False)
    report(ours, hand, crash_ours, crash_hand)


if __name__ == "__main__":
    main()
