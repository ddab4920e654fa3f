"""Benchmark: a rolling deploy across 3 hosts against the same deploy on one host.

Three real engines: the harness's, a second reached over SSH (a loopback sshd), and a
third on its own socket. ``chatops serve`` runs with them as named hosts, and
``POST /run`` (waiting for the end) deploys, alternately, v1 and v2 of the demo image:
once with ``host: here`` (the baseline), then across the three hosts with
``parallel: 1`` and with ``parallel: 3``. Medians of several deploys each, side by side.
Targets: parallel 1 <= 3.3x one host; parallel 3 <= 1.5x. The service's own cap on
stacks at once (CHATOPS_MAX_PARALLEL_STACKS, default 2) is raised to 4 here, so that
``parallel: 3`` is what limits.

Needs scripts/harness.sh (engine, registry, demo images) and openssh-server.
Usage: .venv/bin/python bench/hosts.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from loopback import allow_loopback

ROOT = Path(__file__).resolve().parent.parent
DEMO = "127.0.0.1:5000/chatops-demo"
COMPOSE = """\
name: {stack}
services:
  web:
    image: {image}
    network_mode: host
    init: true
    environment:
      PORT: "${{PORT}}"
"""
INTENT = """\
label_required: approved
action: rollout
stack: {stack}
service: web
{where}
health:
  - http: http://127.0.0.1:${{PORT}}/cgi-bin/health
    within: 20s
    interval: 50ms
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests import served
    from tests.docker.conftest import docker, free_port
    from tests.docker.hosts import extra_engine, sshd

    stack = f"bh-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory(prefix="chatops-bench-hosts-") as tmp, \
            extra_engine() as far, extra_engine() as third, sshd() as ssh:
        repo = Path(tmp) / "repo"
        (repo / "stacks" / stack).mkdir(parents=True)
        intents = repo / "chatops" / "intents"
        intents.mkdir(parents=True)
        allow_loopback(repo)
        ports = {"here": free_port(), "lab": free_port(), "third": free_port()}
        hosts = {
            "here": {"url": "unix:///var/run/docker.sock", "vars": {"PORT": str(ports["here"])}},
            "lab": {"url": f"ssh://root@127.0.0.1:{ssh.port}", "socket": str(far.socket),
                    "identity": str(ssh.key), "known_hosts": str(ssh.known_hosts),
                    "vars": {"PORT": str(ports["lab"])}},
            "third": {"url": third.url, "vars": {"PORT": str(ports["third"])}},
        }
        for name, where in (("one", "host: here"),
                            ("roll1", "hosts: [here, lab, third]\nparallel: 1"),
                            ("roll3", "hosts: [here, lab, third]\nparallel: 3")):
            (intents / f"{name}.yaml").write_text(INTENT.format(stack=stack, where=where))
        for tag in ("v1", "v2"):  # every engine has both images: pulls are not measured
            docker("pull", "-q", f"{DEMO}:{tag}")
            far.docker("pull", "-q", f"{DEMO}:{tag}")
            third.docker("pull", "-q", f"{DEMO}:{tag}")
        service = served.start(repo, Path(tmp) / "state", env={
            "CHATOPS_HOSTS": json.dumps(hosts), "CHATOPS_STABILITY_WINDOW": "0.5s",
            "CHATOPS_WAIT_TIMEOUT": "600", "CHATOPS_MAX_PARALLEL_STACKS": "4"})
        flip = ["v2"]

        def deploy(name: str) -> float:
            flip[0] = "v1" if flip[0] == "v2" else "v2"
            (repo / "stacks" / stack / "docker-compose.yml").write_text(
                COMPOSE.format(stack=stack, image=f"{DEMO}:{flip[0]}"))
            start = time.perf_counter()
            resp = httpx.post(service.url + "/run", json={"name": name, "wait": True},
                              headers={"x-api-key": served.KEY}, timeout=600)
            took = time.perf_counter() - start
            if resp.status_code != 200:
                raise SystemExit(f"{name} answered {resp.status_code}: {resp.text[:500]}")
            return took

        try:
            deploy("roll3")  # every host has the stack; the SSH connection is open
            times: dict[str, list[float]] = {"one": [], "roll1": [], "roll3": []}
            for _ in range(args.rounds):
                for name, took in times.items():
                    took.append(deploy(name))
            runs = service.get("/runs?limit=4").json()["runs"]
            spans = [(r["intent"], r["stacks"], r["started_at"][11:23], r["ended_at"][11:23])
                     for r in runs]
        finally:
            service.stop()
            for engine in (far, third):
                engine.docker("compose", "-p", stack, "down", "-t", "1", check=False)
            docker("compose", "-p", stack, "down", "-t", "1", check=False)
    one = statistics.median(times["one"])
    print(f"\nrolling deploy across 3 hosts (this engine, one over SSH, one on its own "
          f"socket), POST /run with wait, medians of {args.rounds}\n")
    print(f"{'':36}{'median':>10}{'vs one host':>14}{'target':>10}")
    print(f"{'one host (host: here)':36}{one:>9.2f}s{1.0:>13.2f}x")
    for name, label, target in (("roll1", "3 hosts, parallel: 1", 3.3),
                                ("roll3", "3 hosts, parallel: 3", 1.5)):
        value = statistics.median(times[name])
        print(f"{label:36}{value:>9.2f}s{value / one:>13.2f}x{f'<= {target}x':>10}")
    print("\nthe last parallel: 3 deploy (each host's run: started, ended):")
    for intent, stacks, started, ended in reversed(spans):
        print(f"  {intent:8} {', '.join(stacks):40} {started} {ended}")


if __name__ == "__main__":
    main()
