"""Blue-green deploys on the real engine, behind a real HAProxy on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.docker.bluegreen import (
    BlueGreenStack,
    Watcher,
    first_deploy,
    last_run,
    switch_to_v2_under_watch,
    wait_for_status,
)
from tests.docker.conftest import http_get, wait_for_http

pytestmark = pytest.mark.docker


@pytest.fixture(autouse=True)
def short_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATOPS_STABILITY_WINDOW", "0.5s")


def test_a_good_version_switches_and_the_old_slot_drains(cli, bg, haproxy, images) -> None:
    first_deploy(cli, bg, haproxy)
    first = last_run(bg)
    assert first.traffic["before"] == "blue"
    assert first.traffic["after"] == "green"

    record = switch_to_v2_under_watch(cli, bg, images)

    assert record.status == "succeeded"
    traffic = record.traffic
    assert (traffic["before"], traffic["after"]) == ("green", "blue")
    assert traffic["switched"] is True
    assert traffic["drain_left"] == 0
    assert traffic["failed_requests"] == 0
    assert traffic["standby"]["slot"] == "green"
    # What happened to traffic, as people read it: the history and the chat message.
    runs = cli("runs", "--local", "--stack", bg.name, "--limit", "1")
    assert "green → blue at " in runs.out
    assert "0 failed request(s) by the proxy; standby green until" in runs.out
    from chatops.notify.messages import run_message

    message = run_message(record.as_dict(), action="rollout", stack=bg.name)
    assert "\nTraffic: green → blue at " in message.text
    # The old slot is stopped, not removed: going back is a switch.
    (old,) = bg.containers("green")
    assert old["State"] == "exited"
    # HAProxy's file names the new slot: a restarted HAProxy keeps routing to it.
    haproxy.stop()
    haproxy.start()
    assert wait_for_http(bg.url + "/version", "v2").strip() == "v2"



def test_a_version_that_fails_its_gate_never_receives_traffic(cli, bg, haproxy,
                                                                images, tmp_path) -> None:
    first_deploy(cli, bg, haproxy)
    bg.write(images("bad500"))  # its health URL answers 500
    seen = tmp_path / "on_failure.json"
    hook = [sys.executable, "-c", "import json, os, sys; open(sys.argv[1], 'w').write("
            "json.dumps({k: v for k, v in os.environ.items() if k.startswith('CHATOPS_')}))",
            str(seen)]
    bg.intent(extra=f"hooks:\n  on_failure:\n    - {json.dumps(hook)}\n")

    with Watcher(bg.url) as watcher:
        result = cli("run", "web", "--repo", str(bg.root), "--local")

    assert result.code == 2, result.out + result.err
    assert set(watcher.answers) == {"200 v1"}
    record = last_run(bg)
    assert record.status == "rolled_back"
    assert "before any traffic reached it" in record.reason
    assert "blue never received traffic and was stopped; green still serves" in record.reason
    assert record.traffic["switched"] is False
    assert (record.traffic["before"], record.traffic["after"]) == ("green", "green")
    assert [c["State"] for c in bg.containers("blue")] == ["exited"]
    assert http_get(bg.url + "/version")[1].strip() == "v1"
    # The on_failure hook knew how the run ended, and what the live slot ran before it.
    env = json.loads(seen.read_text())
    assert env["CHATOPS_OUTCOME"] == "rolled_back"
    assert env["CHATOPS_OLD_IMAGE"] == images("v1")
    assert env["CHATOPS_NEW_IMAGE"] == images("bad500")


def test_a_failing_smoke_check_keeps_the_new_version_away(cli, bg, haproxy, images) -> None:
    smoke = "  smoke:\n    - {path: /version, method: GET, status: 200, body: v1}\n"
    first_deploy(cli, bg, haproxy, smoke=smoke)
    bg.write(images("v2"))

    with Watcher(bg.url) as watcher:
        result = cli("run", "web", "--repo", str(bg.root), "--local")

    assert result.code == 2, result.out + result.err
    assert set(watcher.answers) == {"200 v1"}
    record = last_run(bg)
    assert "smoke check failed: GET /version answered 200 without 'v1'" in record.reason
    smoke_gates = [g for g in record.gates if g["phase"] == "smoke"]
    assert [g["ok"] for g in smoke_gates] == [False]
    assert f":{bg.blue}/version" in smoke_gates[0]["description"]


def test_a_version_failing_after_the_switch_is_switched_back(
    cli, bg, haproxy, images, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.fakes.kuma import FakeKuma

    kuma = FakeKuma(interval=0.1).start()
    kuma.monitor(7, f"{bg.url}/cgi-bin/health")  # Kuma watches the public address
    monkeypatch.setenv("CHATOPS_KUMA_URL", kuma.url)
    health = textwrap.dedent(f"""\
        health:
          - http: {bg.url}/version
            within: 8s
            interval: 100ms
          - kuma: 7
            status_page: homelab
            within: 3s
            interval: 100ms
        """)
    try:
        first_deploy(cli, bg, haproxy, health=health)
        bg.write(images("bad500"))  # answers /version, but its health URL says 500

        result = cli("run", "web", "--repo", str(bg.root), "--local")

        assert result.code == 2, result.out + result.err
        record = last_run(bg)
        assert "after the switch" in record.reason
        assert "switched back to green, which still serves" in record.reason
        traffic = record.traffic
        assert traffic["switched"] is True
        assert traffic["switched_back"] is True
        assert traffic["after"] == "green"
        assert http_get(bg.url + "/version")[1].strip() == "v1"
        assert [c["State"] for c in bg.containers("blue")] == ["exited"]
    finally:
        kuma.stop()


def test_refused_before_anything_changes(cli, bg, haproxy, images) -> None:
    bg.intent()
    # No HAProxy yet: the proxy does not answer.
    result = cli("run", "web", "--repo", str(bg.root), "--local")
    assert result.code == 1
    record = last_run(bg)
    assert "CHATOPS_HAPROXY_SOCKET" in record.reason
    assert record.reason.endswith("(nothing was changed)")
    assert not record.changed
    assert bg.containers("blue") == bg.containers("green") == []
    # Two copies could not run together: refused, naming the field.
    done = cli("traffic", "config", "web", "--repo", str(bg.root), "--write")
    assert done.code == 0, done.err
    haproxy.start()
    bg.write(images("v1"), extra="    container_name: only-one\n")
    result = cli("run", "web", "--repo", str(bg.root), "--local")
    assert result.code == 1
    reason = last_run(bg).reason
    assert "container_name: 'only-one' can name only one container" in reason
    assert "traffic.two_copies" in reason
    assert bg.containers("blue") == bg.containers("green") == []


def test_the_validator_names_wrong_traffic_fields(cli, bg) -> None:
    folder = bg.root / "chatops" / "intents"
    folder.mkdir(parents=True)
    (folder / "bad.yaml").write_text(textwrap.dedent(f"""\
        label_required: approved
        action: rollout
        stack: {bg.name}
        service: web
        strategy: blue-green
        traffic:
          driver: caddy
          listen: 127.0.0.1:8080
          ports: {{blue: 9000, green: 9000}}
        """))
    (folder / "nosvc.yaml").write_text(textwrap.dedent(f"""\
        label_required: approved
        action: restart
        stack: {bg.name}
        strategy: blue-green
        """))

    result = cli("validate", "--repo", str(bg.root))

    assert result.code == 1
    assert "traffic.driver: unknown driver 'caddy'; known: haproxy" in result.out
    assert "traffic.ports: blue and green need different ports; both are 9000" in result.out
    assert "strategy: blue-green applies to action rollout (and rollback), not restart" \
        in result.out
    assert "service: strategy blue-green needs the one service" in result.out


def test_rollback_switches_back_to_the_standby_without_pulling(cli, bg, haproxy,
                                                               images) -> None:
    first_deploy(cli, bg, haproxy)
    bg.write(images("v2"))
    assert cli("run", "web", "--repo", str(bg.root), "--local").code == 0
    assert http_get(bg.url + "/version")[1].strip() == "v2"

    with Watcher(bg.url) as watcher:
        result = cli("rollback", bg.name, "--local")

    assert result.code == 0, result.out + result.err
    assert http_get(bg.url + "/version")[1].strip() == "v1"
    assert all(a in ("200 v1", "200 v2") for a in watcher.answers), set(watcher.answers)
    record = last_run(bg)
    assert (record.traffic["before"], record.traffic["after"]) == ("blue", "green")
    argvs = [" ".join(s["argv"]) for s in record.steps]
    assert not [a for a in argvs if " pull " in a]
    assert any(a.endswith(" start web") for a in argvs)
    # v2 is now the standby, stopped.
    assert [c["State"] for c in bg.containers("blue")] == ["exited"]


def _spawn_run(bg: BlueGreenStack) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chatops", "run", "web", "--repo", str(bg.root), "--local"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_running(bg: BlueGreenStack, slot: str, deadline: float = 30) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if any(c["State"] == "running" for c in bg.containers(slot)):
            return
        time.sleep(0.05)
    raise AssertionError(f"slot {slot} never started")


def test_haproxy_killed_during_a_switch_leaves_the_old_slot_serving(
        cli, bg, haproxy, images) -> None:
    first_deploy(cli, bg, haproxy)  # v1 in green
    bg.write(images("slow2"))  # answers one second after it starts
    proc = _spawn_run(bg)
    try:
        _wait_running(bg, "blue")
        haproxy.kill()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out + err
    record = last_run(bg)
    assert record.status == "failed"
    assert "the switch to blue failed" in record.reason
    assert "green still serves once the proxy is back" in record.reason
    assert [c["State"] for c in bg.containers("blue")] == ["exited"]
    # HAProxy comes back on its file, which still names the old slot.
    haproxy.start()
    assert wait_for_http(bg.url + "/version", "v1").strip() == "v1"
    # The next run knows which slot is live, and deploys beside it.
    bg.write(images("v2"))
    assert cli("run", "web", "--repo", str(bg.root), "--local").code == 0
    record = last_run(bg)
    assert (record.traffic["before"], record.traffic["after"]) == ("green", "blue")
    assert http_get(bg.url + "/version")[1].strip() == "v2"


def test_chatops_killed_mid_deploy_leaves_traffic_on_a_slot_that_answers(
        cli, bg, haproxy, images) -> None:
    first_deploy(cli, bg, haproxy)  # v1 in green
    bg.write(images("slow2"))
    proc = _spawn_run(bg)
    try:
        _wait_running(bg, "blue")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    # Traffic never left the slot that answers.
    assert http_get(bg.url + "/version")[1].strip() == "v1"
    # The next run finds the live slot in the proxy and replaces the half-started one.
    bg.write(images("v2"))
    result = cli("run", "web", "--repo", str(bg.root), "--local")
    assert result.code == 0, result.out + result.err
    record = last_run(bg)
    assert (record.traffic["before"], record.traffic["after"]) == ("green", "blue")
    assert http_get(bg.url + "/version")[1].strip() == "v2"


def test_pause_answers_503_with_the_message_and_resume_serves_again(
        cli, bg, haproxy, images) -> None:
    first_deploy(cli, bg, haproxy, extra="")
    result = cli("pause", bg.name, "--local")
    assert result.code == 0, result.err
    assert f"paused {bg.name}/web" in result.out
    status, body = http_get(bg.url + "/version")
    assert (status, body) == (503, "This service is down for maintenance; it will be back "
                                   "shortly.")
    # A deploy waits for the resume instead of sending traffic to a paused service.
    bg.write(images("v2"))
    result = cli("run", "web", "--repo", str(bg.root), "--local")
    assert result.code == 1
    assert f"{bg.name} is paused (maintenance); 'chatops resume {bg.name}' first" in \
        last_run(bg).reason
    assert http_get(bg.url + "/version")[0] == 503
    # A restarted HAProxy stays paused: the file says so.
    haproxy.stop()
    haproxy.start()
    assert http_get(bg.url + "/version")[0] == 503

    result = cli("resume", bg.name, "--local")

    assert result.code == 0, result.err
    assert f"resumed {bg.name}/web on slot green" in result.out
    assert http_get(bg.url + "/version") == (200, "v1\n")
    tail = cli("audit", "tail", "--format", "json")
    reasons = [e.get("reason") or "" for e in json.loads(tail.out)]
    assert any(r.startswith(f"paused {bg.name}/web") for r in reasons)
    assert any(r == f"resumed {bg.name}/web on slot green" for r in reasons)


@pytest.fixture
def traefik(tmp_path: Path, bg: BlueGreenStack, monkeypatch: pytest.MonkeyPatch):
    from tests.proxies.traefik import Traefik

    proxy = Traefik(tmp_path / "traefik", bg.listen)
    for key, value in proxy.env().items():
        monkeypatch.setenv(key, value)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


def test_traefik_switches_after_confirming_through_its_api(cli, bg, traefik, images) -> None:
    bg.intent(extra="")
    web = bg.root / "chatops" / "intents" / "web.yaml"
    web.write_text(web.read_text().replace("driver: haproxy", "driver: traefik"))
    done = cli("traffic", "config", "web", "--repo", str(bg.root), "--write")
    assert done.code == 0, done.err
    assert cli("run", "web", "--repo", str(bg.root), "--local").code == 0
    assert wait_for_http(bg.url + "/version", "v1").strip() == "v1"

    record = switch_to_v2_under_watch(cli, bg, images)

    assert (record.traffic["before"], record.traffic["after"]) == ("green", "blue")
    assert record.traffic["failed_requests"] == 0
    # Confirmed through the API, which Traefik updates after its reload throttle.
    assert record.traffic["healthy_to_switched_ms"] > 0
    # A version that fails its gate never gets traffic here either.
    bg.write(images("bad500"))
    with Watcher(bg.url) as watcher:
        assert cli("run", "web", "--repo", str(bg.root), "--local").code == 2
    assert set(watcher.answers) == {"200 v2"}
    # Pause: Traefik answers 503 (its maintenance service has no server).
    assert cli("pause", bg.name, "--local").code == 0
    wait_for_status(bg.url + "/version", 503)
    assert cli("resume", bg.name, "--local").code == 0
    assert wait_for_status(bg.url + "/version", 200) == "v2\n"


@pytest.fixture
def npm(tmp_path: Path, bg: BlueGreenStack, monkeypatch: pytest.MonkeyPatch):
    from tests.fakes.npm import FakeNPM

    fake = FakeNPM(tmp_path / "npm")
    fake.add_host(3, listen=bg.listen, forward_port=bg.blue)
    monkeypatch.setenv("CHATOPS_NPM_URL", fake.url)
    monkeypatch.setenv("CHATOPS_NPM_EMAIL", fake.email)
    monkeypatch.setenv("CHATOPS_NPM_PASSWORD", fake.password)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def npm_intent(bg: BlueGreenStack) -> None:
    bg.intent()
    web = bg.root / "chatops" / "intents" / "web.yaml"
    web.write_text(web.read_text().replace("driver: haproxy", "driver: npm\n  proxy_host: 3")
                   .replace("drain: 5s", "drain: 1s"))


def test_nginx_proxy_manager_switches_its_proxy_host(cli, bg, npm, images,
                                                      monkeypatch) -> None:
    npm_intent(bg)
    # Wrong credentials: refused before anything changes, naming the setting.
    monkeypatch.setenv("CHATOPS_NPM_PASSWORD", "not-the-password-at-all")
    assert cli("run", "web", "--repo", str(bg.root), "--local").code == 1
    record = last_run(bg)
    assert "refused the credentials in CHATOPS_NPM_EMAIL and CHATOPS_NPM_PASSWORD" in \
        record.reason
    assert "not-the-password" not in record.reason
    assert bg.containers("blue") == bg.containers("green") == []
    monkeypatch.setenv("CHATOPS_NPM_PASSWORD", npm.password)

    assert cli("run", "web", "--repo", str(bg.root), "--local").code == 0
    assert wait_for_http(bg.url + "/version", "v1").strip() == "v1"
    assert npm.hosts[3]["forward_port"] == bg.green
    bg.write(images("v2"))
    reloads = npm.reloads

    result = cli("run", "web", "--repo", str(bg.root), "--local")

    assert result.code == 0, result.out + result.err
    assert http_get(bg.url + "/version")[1].strip() == "v2"
    assert npm.hosts[3]["forward_port"] == bg.blue
    assert npm.reloads == reloads + 1
    record = last_run(bg)
    assert (record.traffic["before"], record.traffic["after"]) == ("green", "blue")
    assert record.traffic["failed_requests"] is None  # NPM does not count them
    assert record.traffic["drain_left"] is None  # nor open requests: the drain is waited
    assert record.traffic["drain_seconds"] >= 1
    # Pause answers 503 with the intent's message, through NPM's advanced config (nginx
    # reloads in the background, as under the real NPM: the answer changes moments later).
    assert cli("pause", bg.name, "--local").code == 0
    assert wait_for_status(bg.url + "/version", 503) == \
        "This service is down for maintenance; it will be back shortly."
    assert cli("resume", bg.name, "--local").code == 0
    assert wait_for_status(bg.url + "/version", 200) == "v2\n"


def test_nginx_proxy_manager_failing_config_is_an_error_not_a_success(bg, npm) -> None:
    import asyncio

    from chatops.errors import TrafficError
    from chatops.traffic.base import Backend
    from chatops.traffic.npm import NginxProxyManager

    backend = Backend(bg.name, "web", None, {"blue": ("127.0.0.1", bg.blue),
                                             "green": ("no-such-host.invalid", bg.green)},
                      proxy_host=3)

    async def switch() -> str:
        driver = NginxProxyManager(backend, npm.url, npm.email, npm.password)
        try:
            await driver.switch("green")
        except TrafficError as exc:
            return exc.message
        finally:
            await driver.close()
        return "switched"

    message = asyncio.run(switch())
    assert "could not apply the change (nginx:" in message
    assert "no-such-host.invalid" in message
    assert npm.hosts[3]["forward_port"] == bg.blue  # the last good configuration stays


def test_the_standby_is_removed_once_its_window_has_passed(cli, bg, haproxy, images) -> None:
    import asyncio

    from chatops.application.caller import Caller, Trusted
    from chatops.cli.local import Local
    from chatops.repo import GitOpsRepo
    from chatops.settings import Settings

    first_deploy(cli, bg, haproxy, extra="")
    web = bg.root / "chatops" / "intents" / "web.yaml"
    web.write_text(web.read_text().replace("  drain: 5s\n", "  drain: 5s\n  standby: 1s\n"))
    bg.write(images("v2"))
    assert cli("run", "web", "--repo", str(bg.root), "--local").code == 0
    assert [c["State"] for c in bg.containers("green")] == ["exited"]

    async def reap() -> list[str]:
        settings = Settings.from_env()
        async with Local.open(settings, GitOpsRepo(bg.root), sync=False, sinks=[]) as local:
            caller = Caller(via="service", permissions=Trusted("chatops-standby"))
            early = await local.deploys.reap_standby(caller)
            assert early == []  # its window has not passed yet
            time.sleep(1.2)
            return await local.deploys.reap_standby(caller)

    removed = asyncio.run(reap())

    assert removed == [f"removed the standby slot green of {bg.name}/web (its window ended "
                       f"at {last_run(bg).traffic['standby']['until']}; 1 container(s))"]
    assert bg.containers("green") == []
    assert http_get(bg.url + "/version") == (200, "v2\n")  # the live slot is untouched


def test_with_rollback_off_a_failed_slot_is_left_for_inspection(cli, bg, haproxy,
                                                                 images) -> None:
    first_deploy(cli, bg, haproxy)
    bg.write(images("bad500"))

    result = cli("run", "web", "--repo", str(bg.root), "--local", "--no-rollback")

    assert result.code == 1, result.out + result.err
    record = last_run(bg)
    assert "rollback is off: slot blue is left running for inspection; green still " \
        "serves" in record.reason
    assert [c["State"] for c in bg.containers("blue")] == ["running"]
    assert http_get(bg.url + "/version")[1].strip() == "v1"
