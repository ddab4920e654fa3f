"""``chatops run`` on the real engine: deploys that verify, and roll back when they must."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from chatops.notify.configured import deliverers
from chatops.store.sqlite import RunStore
from tests.docker.conftest import DemoStack, free_port, http_get, wait_for_http

pytestmark = pytest.mark.docker


@pytest.fixture(autouse=True)
def short_window(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run the real stability check, with a shorter window than the 2 s default.
    monkeypatch.setenv("CHATOPS_STABILITY_WINDOW", "0.5s")


def intent(stack: DemoStack, name: str = "deploy", *, within: str = "8s",
           extra: str = "", health: bool = True) -> str:
    body = textwrap.dedent(f"""\
        # Deploy {stack.name}
        label_required: approved
        action: rollout
        stack: {stack.name}
        service: web
        """) + extra
    if health:
        body += textwrap.dedent(f"""\
            health:
              - http: {stack.url}/cgi-bin/health
                within: {within}
                interval: 100ms
            """)
    folder = stack.root / "chatops" / "intents"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(body)
    return name


def store_of() -> RunStore:
    return RunStore(Path(os.environ["CHATOPS_STATE_DIR"]) / "chatops.sqlite3")


def last_run(stack: DemoStack):
    store = store_of()
    try:
        (record,) = store.list_runs(stack=stack.name, limit=1)
        return store.get_run(record.id)
    finally:
        store.close()


def serve_v1(stack: DemoStack, cli) -> None:
    intent(stack)
    result = cli("run", "--repo", str(stack.root), "deploy")
    assert result.code == 0, result.out + result.err
    assert wait_for_http(stack.url + "/version", "v1").strip() == "v1"


def test_rollout_deploys_verifies_and_records(cli, demo_stack: DemoStack, images) -> None:
    serve_v1(demo_stack, cli)
    v1 = last_run(demo_stack).snapshots[-1]["services"]["web"]["image_id"]
    v1_ref = last_run(demo_stack).snapshots[-1]["services"]["web"]["image_ref"]
    v2_ref = images("v2")
    demo_stack.write(v2_ref)

    result = cli("run", "--repo", str(demo_stack.root), "deploy")

    assert result.code == 0, result.out + result.err
    assert http_get(demo_stack.url + "/version")[1].strip() == "v2"
    assert "✅ SUCCEEDED" in result.out
    run = last_run(demo_stack)
    assert run.status == "succeeded"
    assert run.trigger == "cli"
    argvs = [s["argv"] for s in run.steps if s["phase"] == "deploy"]
    compose = ["docker", "compose", "-f", str(demo_stack.compose_file)]
    assert argvs == [[*compose, "pull", "web"], [*compose, "up", "-d", "--no-deps", "web"]]
    before = next(s for s in run.snapshots if s["kind"] == "before")
    after = next(s for s in run.snapshots if s["kind"] == "after")
    assert before["services"]["web"]["image_id"] == v1
    assert after["services"]["web"]["image_id"] != v1
    # "Before" is what ran, not what the compose file asks for now.
    assert (before["services"]["web"]["image_ref"], after["services"]["web"]["image_ref"]) \
        == (v1_ref, v2_ref)
    assert before["services"]["web"]["wanted_ref"] == v2_ref
    assert before["services"]["web"]["replicas"] == 1
    assert len(before["compose_sha256"]) == 64
    assert [g["ok"] for g in run.gates] == [True, True]
    # The seed's JSON log line, on stderr when stderr is not a terminal.
    lines = [json.loads(line) for line in result.err.splitlines() if line.startswith("{")]
    executing = [ln for ln in lines if ln["msg"] == "executing" and ln.get("phase") == "deploy"]
    assert executing[0]["argv"] == [*compose, "pull", "web"]
    assert {k: executing[0][k] for k in ("name", "intent", "action", "stack", "service",
                                         "client", "level")} == {
        "name": "root", "intent": "deploy", "action": "rollout", "stack": demo_stack.name,
        "service": "web", "client": "local", "level": "INFO"}


def test_missing_image_fails_and_changes_nothing(cli, demo_stack: DemoStack, images) -> None:
    serve_v1(demo_stack, cli)
    demo_stack.write(f"{images.repo}:does-not-exist")

    result = cli("run", "--repo", str(demo_stack.root), "deploy")

    assert result.code == 1, result.out
    run = last_run(demo_stack)
    assert run.status == "failed"
    assert run.changed is False
    assert "nothing was changed" in (run.reason or "")
    assert http_get(demo_stack.url + "/version")[1].strip() == "v1"


def test_registry_down_during_pull_fails_and_changes_nothing(cli, demo_stack: DemoStack) -> None:
    serve_v1(demo_stack, cli)
    # Nothing listens on this loopback port: a registry that is down.
    demo_stack.write(f"127.0.0.1:{free_port()}/chatops-demo:v2")

    result = cli("run", "--repo", str(demo_stack.root), "deploy")

    assert result.code == 1
    assert last_run(demo_stack).status == "failed"
    assert http_get(demo_stack.url + "/version")[1].strip() == "v1"


def test_container_that_exits_at_start_is_rolled_back(cli, demo_stack: DemoStack,
                                                       images) -> None:
    serve_v1(demo_stack, cli)
    demo_stack.write(images("crash"))

    result = cli("run", "--repo", str(demo_stack.root), "deploy")

    assert result.code == 2, result.out
    run = last_run(demo_stack)
    assert run.status == "rolled_back"
    assert "exited with exit code 1" in (run.reason or "")
    assert wait_for_http(demo_stack.url + "/version", "v1").strip() == "v1"
    assert [g["phase"] for g in run.gates if g["ok"]][-2:] == ["rollback", "rollback"]


def test_http_500_on_health_url_is_rolled_back(cli, demo_stack: DemoStack, images) -> None:
    serve_v1(demo_stack, cli)
    intent(demo_stack, within="2s")
    demo_stack.write(images("bad500"))

    result = cli("run", "--repo", str(demo_stack.root), "deploy")

    assert result.code == 2
    run = last_run(demo_stack)
    assert run.status == "rolled_back"
    assert "answered 500" in (run.reason or "")
    assert http_get(demo_stack.url + "/version")[1].strip() == "v1"


def test_service_that_never_answers_in_time_is_rolled_back(cli, demo_stack: DemoStack,
                                                           images) -> None:
    serve_v1(demo_stack, cli)
    intent(demo_stack, within="1500ms")
    demo_stack.write(images("slow"))
    text = demo_stack.compose_file.read_text().replace('PORT:', 'DELAY: "30"\n      PORT:')
    demo_stack.compose_file.write_text(text)

    result = cli("run", "--repo", str(demo_stack.root), "deploy")

    assert result.code == 2
    assert "did not pass within 1.5s" in (last_run(demo_stack).reason or "")
    assert wait_for_http(demo_stack.url + "/version", "v1").strip() == "v1"


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if text.encode() in cmdline:
            found.append(int(pid))
    return found


def test_step_that_hangs_is_killed_without_orphans_then_rolled_back(
    cli, demo_stack: DemoStack, images,
) -> None:
    serve_v1(demo_stack, cli)
    v2 = images("v2")
    # The new version depends on a service that never becomes healthy, so
    # 'up -d' waits for it forever: the step must be killed at its timeout.
    demo_stack.compose_file.write_text(textwrap.dedent(f"""\
        name: {demo_stack.name}
        services:
          web:
            image: {v2}
            network_mode: host
            init: true
            environment:
              PORT: "{demo_stack.port}"
            depends_on:
              dep:
                condition: service_healthy
          dep:
            image: {v2}
            network_mode: host
            init: true
            command: ["sleep", "3600"]
            healthcheck:
              test: ["CMD", "false"]
              interval: 1s
              retries: 10000
        """))
    intent(demo_stack, extra="timeout: 3s\n")
    text = (demo_stack.root / "chatops/intents/deploy.yaml").read_text()
    (demo_stack.root / "chatops/intents/deploy.yaml").write_text(
        text.replace("service: web\n", ""))

    result = cli("run", "--repo", str(demo_stack.root), "deploy")

    assert result.code == 2, result.out
    run = last_run(demo_stack)
    up = next(s for s in run.steps if s["phase"] == "deploy" and "up" in s["argv"])
    assert up["timed_out"] is True
    assert "timed out" in (run.reason or "")
    assert _processes_mentioning(str(demo_stack.compose_file)) == []
    assert wait_for_http(demo_stack.url + "/version", "v1").strip() == "v1"
    states = demo_stack.compose("ps", "-a", "--format", "{{.Service}}").stdout.split()
    assert states == ["web"]


def test_invalid_compose_file_is_refused_before_any_change(cli, demo_stack: DemoStack) -> None:
    serve_v1(demo_stack, cli)
    demo_stack.compose_file.write_text(
        demo_stack.compose_file.read_text().replace("init: true", "init: true\n    imag: x"))

    result = cli("run", "--repo", str(demo_stack.root), "deploy")

    assert result.code == 1
    run = last_run(demo_stack)
    assert run.changed is False
    assert not [s for s in run.steps if "up" in s["argv"]]
    assert run.snapshots == []
    assert "is invalid" in (run.reason or "")
    assert http_get(demo_stack.url + "/version")[1].strip() == "v1"


def test_no_rollback_leaves_the_failed_change(cli, demo_stack: DemoStack, images) -> None:
    serve_v1(demo_stack, cli)
    intent(demo_stack, within="1s")
    demo_stack.write(images("bad500"))

    result = cli("run", "--repo", str(demo_stack.root), "deploy", "--no-rollback")

    assert result.code == 1
    assert "rollback is off" in (last_run(demo_stack).reason or "")
    assert http_get(demo_stack.url + "/version")[1].strip() == "bad500"


def test_engine_not_answering_fails_clearly_and_frees_the_lock(
    cli, demo_stack: DemoStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    serve_v1(demo_stack, cli)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")

    result = cli("run", "--repo", str(demo_stack.root), "deploy")

    assert result.code == 1
    run = last_run(demo_stack)
    assert run.status == "failed"
    assert "does not answer" in (run.reason or "")
    monkeypatch.delenv("DOCKER_HOST")
    assert cli("run", "--repo", str(demo_stack.root), "deploy", "--no-wait").code == 0


def _spawn(stack: DemoStack, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chatops", "run", "--repo", str(stack.root), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_for_status(stack: DemoStack, status: str, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        store = store_of()
        try:
            runs = store.list_runs(stack=stack.name, status=status)
        finally:
            store.close()
        if runs:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {status} run of {stack.name} within {timeout}s")


def _hold_busy(stack: DemoStack, images) -> None:
    """Make the next run slow: the new version answers only after 2 s."""
    stack.write(images("slow"))
    text = stack.compose_file.read_text().replace("PORT:", 'DELAY: "2"\n      PORT:')
    stack.compose_file.write_text(text)


def test_two_runs_on_one_stack_never_interleave(cli, demo_stack: DemoStack, images) -> None:
    serve_v1(demo_stack, cli)
    _hold_busy(demo_stack, images)
    first = _spawn(demo_stack, "deploy")
    try:
        _wait_for_status(demo_stack, "running")
        refused = cli("run", "--repo", str(demo_stack.root), "deploy", "--no-wait")
        assert refused.code == 4
        assert "is busy" in refused.err
        waited = cli("run", "--repo", str(demo_stack.root), "deploy")
        assert waited.code == 0, waited.out
        assert "waiting for stack" in waited.out
    finally:
        assert first.wait(60) == 0
    store = store_of()
    try:
        runs = sorted(store.list_runs(stack=demo_stack.name, status="succeeded"),
                      key=lambda r: r.started_at or "")
    finally:
        store.close()
    first_run, second_run = runs[-2], runs[-1]
    assert (first_run.ended_at or "") <= (second_run.started_at or "")


def _kill_a_run_midway(cli, stack: DemoStack, images) -> None:
    serve_v1(stack, cli)
    _hold_busy(stack, images)
    victim = _spawn(stack, "deploy")
    _wait_for_status(stack, "running")
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)


def test_sigkill_mid_run_is_marked_interrupted_and_frees_the_lock(
    cli, demo_stack: DemoStack, images,
) -> None:
    _kill_a_run_midway(cli, demo_stack, images)

    listed = cli("runs", "--stack", demo_stack.name, "--format", "json")

    runs = json.loads(listed.out)
    assert runs[0]["status"] == "interrupted"
    assert "stopped before the run ended" in runs[0]["reason"]
    assert [r["status"] for r in runs[1:]] == ["succeeded"]
    again = cli("run", "--repo", str(demo_stack.root), "deploy", "--no-wait")
    assert again.code == 0, again.out + again.err


def test_rollback_command_returns_to_the_last_good_images(cli, demo_stack: DemoStack,
                                                          images) -> None:
    serve_v1(demo_stack, cli)
    demo_stack.write(images("v2"))
    assert cli("run", "--repo", str(demo_stack.root), "deploy").code == 0
    assert http_get(demo_stack.url + "/version")[1].strip() == "v2"

    result = cli("rollback", demo_stack.name)

    assert result.code == 0, result.out + result.err
    assert http_get(demo_stack.url + "/version")[1].strip() == "v1"
    assert last_run(demo_stack).intent == f"rollback-{demo_stack.name}"


def test_rollback_intent_from_git(cli, demo_stack: DemoStack, images) -> None:
    serve_v1(demo_stack, cli)
    demo_stack.write(images("v2"))
    assert cli("run", "--repo", str(demo_stack.root), "deploy").code == 0
    folder = demo_stack.root / "chatops" / "intents"
    (folder / "back.yaml").write_text(
        f"label_required: approved\naction: rollback\nstack: {demo_stack.name}\nservice: web\n")

    result = cli("run", "--repo", str(demo_stack.root), "back")

    assert result.code == 0, result.out
    assert http_get(demo_stack.url + "/version")[1].strip() == "v1"
    again = cli("run", "--repo", str(demo_stack.root), "back")
    assert again.code == 1
    assert "nothing to roll back to" in again.out


def test_scale_sets_replicas_and_checks_them(cli, demo_stack: DemoStack, images) -> None:
    demo_stack.compose_file.write_text(textwrap.dedent(f"""\
        name: {demo_stack.name}
        services:
          worker:
            image: {images("v1")}
            network_mode: host
            init: true
            command: ["sleep", "3600"]
        """))
    folder = demo_stack.root / "chatops" / "intents"
    folder.mkdir(parents=True)
    (folder / "scale.yaml").write_text(
        f"label_required: l\naction: scale\nstack: {demo_stack.name}\nservice: worker\n"
        "replicas: 3\n")
    (folder / "up.yaml").write_text(f"label_required: l\naction: up\nstack: {demo_stack.name}\n")
    assert cli("run", "--repo", str(demo_stack.root), "up").code == 0

    result = cli("run", "--repo", str(demo_stack.root), "scale")

    assert result.code == 0, result.out
    running = demo_stack.compose("ps", "--format", "{{.State}}").stdout.split()
    assert running == ["running"] * 3
    assert "worker: 3" in last_run(demo_stack).gates[0]["detail"]


def test_logs_shows_the_output_of_a_run(cli, demo_stack: DemoStack) -> None:
    serve_v1(demo_stack, cli)
    run = last_run(demo_stack)

    result = cli("logs", run.id)

    assert result.code == 0
    assert f"run {run.id}: intent deploy, succeeded" in result.out
    assert "Started" in result.out
    assert result.out.rstrip().endswith("succeeded")


def test_multi_document_intent_stops_at_the_first_failure(cli, demo_stack: DemoStack,
                                                          images, tmp_path: Path) -> None:
    serve_v1(demo_stack, cli)
    demo_stack.write(images("crash"))
    folder = demo_stack.root / "chatops" / "intents"
    third = tmp_path / "never"
    (folder / "all.yaml").write_text(
        f"label_required: l\naction: pull\nstack: {demo_stack.name}\n---\n"
        f"label_required: l\naction: rollout\nstack: {demo_stack.name}\nservice: web\n---\n"
        f"label_required: l\naction: up\nstack: never\ncompose: {third}/c.yml\n")

    result = cli("run", "--repo", str(demo_stack.root), "all")

    assert result.code == 2
    run = last_run(demo_stack)
    assert (run.reason or "").startswith("step 2/3 (rollout on")
    assert all(str(third) not in " ".join(s["argv"]) for s in run.steps)


def test_dry_run_prints_the_plan_and_changes_nothing(cli, demo_stack: DemoStack,
                                                     images) -> None:
    serve_v1(demo_stack, cli)
    demo_stack.write(images("v2"))

    result = cli("run", "--repo", str(demo_stack.root), "deploy", "--dry-run")

    assert result.code == 0
    assert f"$ docker compose -f {demo_stack.compose_file} pull web" in result.out
    assert http_get(demo_stack.url + "/version")[1].strip() == "v1"
    with socket.create_connection(("127.0.0.1", demo_stack.port), timeout=2):
        pass


def test_any_command_notices_an_interrupted_run(cli, demo_stack: DemoStack, images) -> None:
    _kill_a_run_midway(cli, demo_stack, images)

    assert cli("validate", "--repo", str(demo_stack.root)).code == 0

    assert last_run(demo_stack).status == "interrupted"


def test_failing_uptime_kuma_gate_rolls_the_deploy_back(
    cli, demo_stack: DemoStack, images, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.fakes.kuma import FakeKuma

    kuma = FakeKuma(interval=0.1).start()
    kuma.monitor(1, f"{demo_stack.url}/cgi-bin/health")
    monkeypatch.setenv("CHATOPS_KUMA_URL", kuma.url)
    try:
        intent(demo_stack, health=False, extra=textwrap.dedent("""\
            health:
              - kuma: 1
                status_page: homelab
                within: 3s
                interval: 100ms
            """))
        result = cli("run", "--repo", str(demo_stack.root), "deploy")
        assert result.code == 0, result.out
        demo_stack.write(images("bad500"))

        result = cli("run", "--repo", str(demo_stack.root), "deploy")

        assert result.code == 2, result.out
        run = last_run(demo_stack)
        assert "Uptime Kuma monitor 1 not UP" in (run.reason or "")
        assert "monitor 1 is DOWN" in (run.reason or "")
        assert [g["ok"] for g in run.gates if g["phase"] == "rollback" and
                g["kind"] == "kuma"] == [True]
        assert http_get(demo_stack.url + "/version")[1].strip() == "v1"
    finally:
        kuma.stop()


def test_each_run_is_pushed_to_uptime_kuma_and_a_down_target_never_holds_a_deploy(
    cli, demo_stack: DemoStack, images, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    from chatops.notify.outbox import Outbox
    from chatops.settings import Settings
    from tests.fakes.kuma import FakeKuma

    kuma = FakeKuma().start()
    monkeypatch.setenv("CHATOPS_KUMA_PUSH_URL", f"{kuma.url}/api/push/deploys")
    try:
        serve_v1(demo_stack, cli)
        assert [(p["token"], p["status"], p["msg"]) for p in kuma.pushes] == [
            ("deploys", "up", "deploy: succeeded")]
        kuma.push_answers += [(500, {})] * 3  # Kuma is having a bad minute
        demo_stack.write(images("bad500"))
        start = time.monotonic()
        assert cli("run", "--repo", str(demo_stack.root), "deploy").code == 2
        assert time.monotonic() - start < 30
        assert len(kuma.pushes) == 1
        settings = Settings.from_env()
        box = Outbox(settings.paths.outbox)
        assert [m.status for m in box.messages()] == ["pending", "sent"]
        time.sleep(1.1)
        for _ in range(5):
            asyncio.run(box.deliver_due(deliverers(settings)))
            if len(kuma.pushes) == 2:
                break
            time.sleep(2.1)
        assert kuma.pushes[1]["status"] == "down"
        assert kuma.pushes[1]["msg"].startswith("deploy: rolled_back (")
        box.close()
    finally:
        kuma.stop()


def test_a_self_upgrade_outside_chatops_own_container_changes_nothing(
        cli, demo_stack: DemoStack, images) -> None:
    serve_v1(demo_stack, cli)
    before = demo_stack.compose("ps", "-q").stdout.split()
    demo_stack.write(images("v2"))
    intent(demo_stack, "upgrade", extra="strategy: self-upgrade\n")

    result = cli("run", "--repo", str(demo_stack.root), "upgrade")

    assert result.code != 0
    run = last_run(demo_stack)
    assert run.status == "failed"
    assert "this chatops runs in no container, not in service web" in (run.reason or "")
    assert "nothing was changed" in (run.reason or "")
    assert demo_stack.compose("ps", "-q").stdout.split() == before  # the same container
    assert http_get(demo_stack.url + "/version")[1].strip() == "v1"
    store = store_of()
    try:
        assert store.handoff(run.id) is None  # nothing was handed to a helper
    finally:
        store.close()
