"""Canary releases on the real engine behind a real HAProxy: weighted steps, judged by
HAProxy's own per-server counters."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from tests.docker.bluegreen import BlueGreenStack, Watcher, first_deploy
from tests.docker.bluegreen import last_run as last_bg_run
from tests.docker.conftest import http_get, wait_for_http

pytestmark = pytest.mark.docker


@pytest.fixture(autouse=True)
def short_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATOPS_STABILITY_WINDOW", "0.5s")


def Load(url: str, path: str) -> Watcher:  # noqa: N802 - reads as the load it starts
    """Four clients asking ``path`` of the stable address all along."""
    return Watcher(url, path, clients=4, pause=0.005)


def canary(bg: BlueGreenStack, steps: str, **limits: object) -> None:
    web = bg.root / "chatops" / "intents" / "web.yaml"
    text = web.read_text().replace("strategy: blue-green", "strategy: canary")
    block = {"steps": json.loads(steps), "interval": "1s", "min_requests": 10, **limits}
    web.write_text(text + "canary: " + json.dumps(block) + "\n")


def test_the_proxy_of_a_canary_is_set_up_as_the_readme_says(cli, bg, haproxy) -> None:
    """``chatops traffic config NAME --write`` writes a canary's backend as it does a
    blue-green one's, and HAProxy starts with it."""
    bg.intent()
    canary(bg, '[{"weight": 20, "pause": "2s"}, {"weight": 100}]')
    done = cli("traffic", "config", "web", "--repo", str(bg.root), "--write")
    assert done.code == 0, done.out + done.err
    written = list(haproxy.conf.glob("*.cfg"))
    assert len(written) == 1
    assert "server blue" in written[0].read_text()
    haproxy.start()


def test_a_good_canary_promotes_through_every_step(cli, bg, haproxy, images) -> None:
    first_deploy(cli, bg, haproxy)
    canary(bg, '[{"weight": 20, "pause": "2s"}, {"weight": 50, "pause": "2s"}, '
               '{"weight": 100}]')
    bg.write(images("v2"))

    with Load(bg.url, "/version") as load:
        result = cli("run", "web", "--repo", str(bg.root), "--local")
        time.sleep(0.3)

    assert result.code == 0, result.out + result.err
    assert all(a in ("200 v1", "200 v2") for a in load.answers), set(load.answers)
    # Both versions answered during the steps.
    assert {"200 v1", "200 v2"} <= set(load.answers)
    record = last_bg_run(bg)
    steps = record.traffic["canary"]
    assert steps["weight"] == 100
    passed = [w for w in steps["windows"] if w["outcome"] == "pass"]
    assert {w["step"] for w in passed} == {1, 2}
    assert record.traffic["after"] == "blue"
    assert record.traffic["failed_requests"] == 0
    assert [g["ok"] for g in record.gates if g["phase"] == "canary"] == \
        [True] * len(steps["windows"])
    assert http_get(bg.url + "/version")[1].strip() == "v2"


def test_a_bad_version_is_stopped_at_its_first_step(cli, bg, haproxy, images) -> None:
    first_deploy(cli, bg, haproxy)
    canary(bg, '[{"weight": 20, "pause": "20s"}, {"weight": 100}]', max_error_rate=0.05)
    bg.write(images("flaky"))  # answers 500 to one request in five

    with Load(bg.url, "/cgi-bin/health") as load:
        start = time.monotonic()
        result = cli("run", "web", "--repo", str(bg.root), "--local")
        took = time.monotonic() - start
        time.sleep(0.5)
        tail = len(load.answers)
        time.sleep(0.5)

    assert result.code == 2, result.out + result.err
    assert took < 15  # stopped by the analysis, long before the step's 20 s
    record = last_bg_run(bg)
    assert record.status == "rolled_back"
    assert "canary analysis failed at step 1 (20%)" in record.reason
    assert "is above max_error_rate 5.0%" in record.reason
    assert "green serves every request again" in record.reason
    assert record.traffic["canary"]["weight"] == 0
    # Traffic is back on the stable version: nothing but its answers afterwards.
    assert set(load.answers[tail:]) == {"200 v1"}
    assert [c["State"] for c in bg.containers("blue")] == ["exited"]


def _spawn(bg: BlueGreenStack) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chatops", "run", "web", "--repo", str(bg.root), "--local"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _waiting(cli, bg: BlueGreenStack, deadline: float = 60) -> str:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        runs = json.loads(cli("runs", "--local", "--stack", bg.name, "--limit", "1",
                              "--format", "json").out)
        traffic = runs[0].get("traffic") or {}
        if (traffic.get("canary") or {}).get("waiting") == "promote":
            return runs[0]["id"]
        time.sleep(0.2)
    raise AssertionError("the canary never waited for a promote")


def test_a_manual_pause_waits_for_promote(cli, bg, haproxy, images, monkeypatch) -> None:
    from tests.fakes.json_target import JsonTarget

    chat = JsonTarget()
    monkeypatch.setenv("CHATOPS_NOTIFY_URLS", chat.url)
    first_deploy(cli, bg, haproxy)
    canary(bg, '[{"weight": 30, "pause": "manual"}, {"weight": 100}]')
    bg.write(images("v2"))
    with Load(bg.url, "/version"):
        proc = _spawn(bg)
        try:
            run_id = _waiting(cli, bg)
            shown = cli("runs", "--local", "--stack", bg.name, "--limit", "1")
            assert "canary at 30% (step 1/2, waiting for 'chatops promote')" in shown.out
            time.sleep(1.5)
            assert proc.poll() is None  # still held
            promoted = cli("promote", run_id, "--local")
            assert promoted.code == 0, promoted.err
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, out + err
    record = last_bg_run(bg)
    assert record.status == "succeeded"
    assert http_get(bg.url + "/version")[1].strip() == "v2"
    assert promoted.out.startswith(f"promote: run {run_id}")
    # The chat heard that the canary waited, with its weight, then the outcome.
    bodies = [m.get("message", "") + m.get("title", "") for m in chat.received]
    waiting = [b for b in bodies if "WAITING FOR PROMOTE" in b]
    assert waiting, bodies
    assert "canary at 30% (step 1/2, waiting for 'chatops promote')" in waiting[0]
    assert any("SUCCESS" in b for b in bodies)
    chat.stop()
    tail = json.loads(cli("audit", "tail", "--format", "json").out)
    assert any((e.get("reason") or "").startswith(f"promote canary of run {run_id}")
               for e in tail)


def test_abort_sends_every_request_back(cli, bg, haproxy, images) -> None:
    first_deploy(cli, bg, haproxy)
    canary(bg, '[{"weight": 30, "pause": "manual"}, {"weight": 100}]')
    bg.write(images("v2"))
    with Load(bg.url, "/version"):
        proc = _spawn(bg)
        try:
            run_id = _waiting(cli, bg)
            assert cli("abort", run_id, "--local").code == 0
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 2, out + err
    record = last_bg_run(bg)
    assert record.status == "rolled_back"
    assert "aborted by" in record.reason
    assert wait_for_http(bg.url + "/version", "v1").strip() == "v1"
    # A run that is over has nothing to promote.
    again = cli("promote", run_id, "--local")
    assert again.code != 0
    assert f"run {run_id} is rolled_back, not running" in again.err


def test_canary_limits_are_checked_by_the_validator(cli, bg) -> None:
    folder = bg.root / "chatops" / "intents"
    folder.mkdir(parents=True)
    base = textwrap.dedent(f"""\
        label_required: approved
        action: rollout
        stack: {bg.name}
        service: web
        strategy: canary
        traffic:
          driver: DRIVER
          listen: 127.0.0.1:8080
          ports: {{blue: 9001, green: 9002}}
        """)
    (folder / "ends.yaml").write_text(base.replace("DRIVER", "haproxy") + textwrap.dedent(
        """\
        canary:
          steps: [{weight: 10, pause: 1m}, {weight: 50, pause: 1m}]
        """))
    (folder / "unit.yaml").write_text(base.replace("DRIVER", "haproxy") + textwrap.dedent(
        """\
        canary:
          steps: [{weight: 10, pause: 60}, {weight: 100}]
          max_error_rate: 1.5
        """))
    (folder / "npm.yaml").write_text(
        base.replace("DRIVER", "npm").replace("  ports:", "  proxy_host: 2\n  ports:")
        + "canary: {steps: [{weight: 10, pause: 1m}, {weight: 100}]}\n")

    result = cli("validate", "--repo", str(bg.root))

    assert result.code == 1
    assert "canary: the steps' weights must end at 100" in result.out
    assert "canary.steps[0].pause: expected a duration with its unit, such as 60s" \
        in result.out
    assert "canary.max_error_rate:" in result.out
    assert "traffic.driver: Nginx Proxy Manager cannot weight traffic" in result.out


def test_a_canary_behind_traefik_is_judged_by_its_metrics(cli, bg, images, tmp_path,
                                                          monkeypatch) -> None:
    from tests.proxies.traefik import Traefik

    proxy = Traefik(tmp_path / "traefik", bg.listen)
    for key, value in proxy.env().items():
        monkeypatch.setenv(key, value)
    proxy.start()
    try:
        bg.intent()
        web = bg.root / "chatops" / "intents" / "web.yaml"
        web.write_text(web.read_text().replace("driver: haproxy", "driver: traefik"))
        assert cli("traffic", "config", "web", "--repo", str(bg.root), "--write").code == 0
        assert cli("run", "web", "--repo", str(bg.root), "--local").code == 0
        canary(bg, '[{"weight": 30, "pause": "4s"}, {"weight": 100}]', max_p95="2s")
        bg.write(images("flaky"))

        with Load(bg.url, "/cgi-bin/health"):
            result = cli("run", "web", "--repo", str(bg.root), "--local")

        assert result.code == 2, result.out + result.err
        record = last_bg_run(bg)
        assert "canary analysis failed at step 1 (30%)" in record.reason
        assert wait_for_http(bg.url + "/version", "v1").strip() == "v1"
    finally:
        proxy.stop()


def replica_stack(cli, demo_stack, image: str, replicas: int, extra: str = "") -> None:
    """The demo image as a worker (no port) with ``replicas``, deployed as a replica
    canary (strategy canary without a traffic block)."""
    demo_stack.compose_file.write_text(textwrap.dedent(f"""\
        name: {demo_stack.name}
        services:
          web:
            image: {image}
            network_mode: host
            init: true
            command: ["sleep", "3600"]
            deploy:
              replicas: {replicas}
        """) + extra)
    folder = demo_stack.root / "chatops" / "intents"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "deploy.yaml").write_text(textwrap.dedent(f"""\
        label_required: approved
        action: rollout
        stack: {demo_stack.name}
        service: web
        strategy: canary
        """))
    assert cli("run", "--repo", str(demo_stack.root), "deploy").code == 0


def test_the_replica_canary_never_has_fewer_than_n_replicas(cli, demo_stack, images) -> None:
    from tests.docker.conftest import docker

    replica_stack(cli, demo_stack, images("v1"), 3)
    v2 = images("v2")
    demo_stack.compose_file.write_text(demo_stack.compose_file.read_text()
                                       .replace(images.made[0], v2))
    counts: list[tuple[int, int]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            out = docker("ps", "--filter", f"label=com.docker.compose.project="
                         f"{demo_stack.name}", "--format", "{{.Image}}").stdout.split()
            counts.append((len(out), out.count(v2)))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = cli("run", "--repo", str(demo_stack.root), "deploy")
    finally:
        stop.set()
        watcher.join(5)

    assert result.code == 0, result.out + result.err
    assert min(n for n, _ in counts) >= 3, counts
    final = docker("ps", "--filter", f"label=com.docker.compose.project={demo_stack.name}",
                   "--format", "{{.Image}}").stdout.split()
    assert final == [v2] * 3
    # The new image came one replica at a time: a moment with exactly one new replica.
    assert any(new == 1 for _, new in counts)
    from tests.docker.test_run import last_run

    record = last_run(demo_stack)
    removed = [s for s in record.steps if s["description"].startswith("remove old replica")]
    assert len(removed) == 3


def test_a_failing_replica_canary_goes_back_to_the_old_replicas(cli, demo_stack,
                                                                images) -> None:
    from tests.docker.conftest import docker
    from tests.docker.test_run import last_run

    v1 = images("v1")
    replica_stack(cli, demo_stack, v1, 2, extra=textwrap.indent(textwrap.dedent("""\
        healthcheck:  # the crash image says VERSION=crash: unhealthy
          test: ["CMD-SHELL", "test $$VERSION != crash"]
          interval: 200ms
          retries: 1
        """), "    "))
    crash = images("crash")
    demo_stack.compose_file.write_text(demo_stack.compose_file.read_text()
                                       .replace(v1, crash))

    result = cli("run", "--repo", str(demo_stack.root), "deploy")

    assert result.code == 2, result.out + result.err
    record = last_run(demo_stack)
    assert "(the canary)" in record.reason
    assert not [s for s in record.steps if s["description"].startswith("remove old")]
    ids = docker("ps", "-q", "--filter",
                 f"label=com.docker.compose.project={demo_stack.name}").stdout.split()
    images_now = [docker("inspect", "-f", "{{.Image}}", i).stdout.strip() for i in ids]
    v1_id = docker("image", "inspect", "-f", "{{.Id}}", v1).stdout.strip()
    assert images_now == [v1_id, v1_id]  # the old image, by ID (re-tagged as the new ref)
