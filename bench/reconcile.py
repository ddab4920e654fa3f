"""Benchmark: keeping the host true to Git, each figure beside its baseline.

Needs scripts/harness.sh (engine, Compose, registry on 127.0.0.1:5000). Prints:
1. from ``docker kill`` to the chat message (a loopback JSON target), medians of
   ``--rounds`` kills (one stack each), beside the engine's own ``die`` event read by
   ``docker events`` (the floor); target <= 2 s;
2. from a commit pushed to the remote to its run starting in pull mode with a 5 s
   interval, beside the interval (what any poller waits at most); target <= 6 s;
3. a drift pass over 100 stacks (100 Compose projects with a container each, every one
   with its last good snapshot), beside ``docker ps -a`` of the same containers;
   target <= 1 s;
4. the service's CPU while idle for ``--idle`` seconds with the watcher and a 5 s poll,
   beside the same service with neither; target <= 2% of one core.

Usage: .venv/bin/python bench/reconcile.py [--rounds 5] [--idle 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

from loopback import LOOPBACK_POLICY, allow_loopback

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

REGISTRY = "127.0.0.1:5000"
IMAGE = f"{REGISTRY}/chatops-demo:v1"


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True,
                          timeout=120).stdout


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_stack(root: Path, name: str, port: int, extra: str = "") -> None:
    (root / "stacks" / name).mkdir(parents=True, exist_ok=True)
    (root / "stacks" / name / "docker-compose.yml").write_text(textwrap.dedent(f"""\
        name: {name}
        services:
          web:
            image: {IMAGE}
            network_mode: host
            init: true
            environment:
              PORT: "{port}"
        """))
    (root / "chatops" / "intents").mkdir(parents=True, exist_ok=True)
    allow_loopback(root)
    (root / "chatops" / "intents" / f"{name.replace('-', '_')}.yaml").write_text(
        f"label_required: approved\naction: rollout\nstack: {name}\nservice: web\n{extra}")


def kill_to_message(rounds: int) -> tuple[float, float]:
    from tests import served
    from tests.docker.conftest import free_port
    from tests.fakes.json_target import JsonTarget

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "repo"
        names = [f"bk{uuid.uuid4().hex[:6]}" for _ in range(rounds)]
        for name in names:
            write_stack(root, name, free_port())
        chat = JsonTarget()
        service = served.start(root, Path(folder) / "state", env={
            "CHATOPS_STABILITY_WINDOW": "0.3s", "CHATOPS_NOTIFY_URLS": chat.url,
            "CHATOPS_RECONCILE_INTERVAL": "off"})
        ours, floor = [], []
        try:
            for name in names:
                service.post("/run", {"name": name.replace("-", "_"), "wait": True})
            time.sleep(1.5)
            for name in names:
                container = docker("compose", "-p", name, "ps", "-q").split()[0]
                events = subprocess.Popen(
                    ["docker", "events", "--filter", f"container={container}", "--filter",
                     "event=die", "--format", "{{.Time}}"], stdout=subprocess.PIPE, text=True)
                time.sleep(0.3)
                start = time.time()
                docker("kill", container)
                assert events.stdout is not None  # noqa: S101
                events.stdout.readline()
                floor.append(time.time() - start)
                events.terminate()
                chat.wait_for(f"DOWN: stack {name} on this host", deadline=30)
                ours.append(time.time() - start)
        finally:
            service.stop()
            chat.server.shutdown()
            for name in names:
                subprocess.run(["docker", "compose", "-p", name, "down", "-t", "1"],
                               capture_output=True, check=False)
    return statistics.median(ours), statistics.median(floor)


def push_to_run(rounds: int) -> float:
    from tests import served
    from tests.unit.test_gitops import World

    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        name = f"bp{uuid.uuid4().hex[:6]}"
        world = World.create(base, {
            f"stacks/{name}/docker-compose.yml":
                f"name: {name}\nservices:\n  web:\n    image: {IMAGE}\n    network_mode: "
                "host\n    init: true\n    command: [\"sleep\", \"600\"]\n",
            "chatops/policy.yaml": LOOPBACK_POLICY,
            f"chatops/intents/{name}.yaml":
                f"label_required: approved\naction: rollout\nstack: {name}\nservice: web\n"})
        service = served.start(world.host, base / "state", env={
            "CHATOPS_POLL_INTERVAL": "5s", "CHATOPS_RECONCILE_INTERVAL": "off",
            "CHATOPS_STABILITY_WINDOW": "0.3s"})
        times = []
        try:
            time.sleep(1.0)
            for i in range(rounds):
                seen = len(service.get("/runs").json()["runs"])
                start = time.time()
                world.commit({f"stacks/{name}/docker-compose.yml":
                              (world.dev / "stacks" / name / "docker-compose.yml")
                              .read_text() + f"# {i}\n"}, f"change {i}")
                while len(service.get("/runs").json()["runs"]) <= seen:
                    time.sleep(0.05)
                times.append(time.time() - start)
                time.sleep(1.0)
        finally:
            service.stop()
            subprocess.run(["docker", "compose", "-p", name, "down", "-t", "1"],
                           capture_output=True, check=False)
    return statistics.median(times)


def drift_pass(count: int) -> tuple[float, float]:
    from chatops.application.drift import drift_report
    from chatops.engine.docker import DockerEngine
    from chatops.gitops.sync import RepoSync
    from chatops.repo import GitOpsRepo
    from chatops.store.sqlite import RunStore, new_run_id

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "repo"
        store = RunStore(Path(folder) / "runs.sqlite3")
        names = [f"bd{uuid.uuid4().hex[:6]}-{i}" for i in range(count)]
        image_id = json.loads(docker("image", "inspect", IMAGE))[0]["Id"]
        try:
            for i, name in enumerate(names):
                write_stack(root, name, 20000 + i)
                docker("run", "-d", "--name", f"{name}-web-1", "--label",
                       f"com.docker.compose.project={name}", "--label",
                       "com.docker.compose.service=web", IMAGE, "sleep", "600")
                run_id = new_run_id()
                store.create_run(intent=name.replace("-", "_"), trigger="bench", actor="b",
                                 client="local", stacks=[name], sha=None, plan={},
                                 run_id=run_id)
                store.save_snapshot(run_id, doc=1, kind="after", stack=name, data={
                    "project": name, "compose_file": "", "services": {"web": {
                        "image_id": image_id, "replicas": 1, "image_ref": IMAGE}}})
                store.finish_run(run_id, "succeeded", None)  # type: ignore[arg-type]
            repo, engine = GitOpsRepo(root), DockerEngine()
            sync = RepoSync(root)

            async def once() -> float:
                start = time.perf_counter()
                found = await drift_report(repo, store, engine, sync)
                assert not [d for d in found if d.kind != "unknown"], found  # noqa: S101
                return time.perf_counter() - start

            ours = statistics.median(asyncio.run(_times(once, 5)))
            floor = statistics.median([_timed(lambda: docker("ps", "-a", "--format", "json"))
                                       for _ in range(5)])
        finally:
            store.close()
            subprocess.run(["docker", "rm", "-f", *[f"{n}-web-1" for n in names]],
                           capture_output=True, check=False)
    return ours, floor


async def _times(fn, count: int) -> list[float]:  # type: ignore[no-untyped-def]
    return [await fn() for _ in range(count)]


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def idle_cpu(seconds: float) -> tuple[float, float]:
    from tests import served

    results = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "repo"
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        write_stack(root, "idle", 20999)
        for env in ({"CHATOPS_POLL_INTERVAL": "5s", "CHATOPS_WATCH_EVENTS": "true"},
                    {"CHATOPS_WATCH_EVENTS": "false", "CHATOPS_RECONCILE_INTERVAL": "off"}):
            service = served.start(root, Path(folder) / f"state{len(results)}", env=env)
            try:
                time.sleep(3.0)
                before = cpu_seconds(service.proc.pid)
                time.sleep(seconds)
                results.append((cpu_seconds(service.proc.pid) - before) / seconds * 100)
            finally:
                service.stop()
    return results[0], results[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle", type=float, default=30.0)
    args = parser.parse_args()
    docker("pull", "-q", IMAGE)
    kill, floor = kill_to_message(args.rounds)
    print(f"docker kill -> chat message: {kill:.2f} s (the engine's die event: "
          f"{floor:.2f} s); target <= 2 s: {'met' if kill <= 2 else 'NOT met'}")
    push = push_to_run(max(3, args.rounds // 2))
    print(f"push -> run started, pull mode every 5 s: {push:.2f} s (the interval: 5 s); "
          f"target <= 6 s: {'met' if push <= 6 else 'NOT met'}")
    ours, ps = drift_pass(100)
    print(f"drift pass over 100 stacks: {ours:.3f} s (docker ps -a of them: {ps:.3f} s, "
          f"{ours / ps:.1f}x); target <= 1 s: {'met' if ours <= 1 else 'NOT met'}")
    busy, quiet = idle_cpu(args.idle)
    print(f"idle CPU with the watcher and a 5 s poll: {busy:.2f}% of one core (without "
          f"either: {quiet:.2f}%); target <= 2%: {'met' if busy <= 2 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
