"""``chatops serve`` as a real process on loopback: the seed's exact curl deploys for real."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.docker.conftest import DEMO, docker, free_port, http_get

pytestmark = pytest.mark.docker

KEY = "seed-style-secret-" + uuid.uuid4().hex


@dataclass
class Served:
    proc: subprocess.Popen[str]
    url: str
    repo: Path
    compose: Path
    app_port: int
    state: Path


def _start(tmp_path: Path, *, variant: str = "v1", delay: str | None = None,
           grace: str = "60") -> Served:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "examples" / "demo", repo)
    app_port, api_port = free_port(), free_port()
    name = f"serve-{uuid.uuid4().hex[:8]}"
    compose = repo / "stacks" / "stack-demo" / "docker-compose.yml"
    text = compose.read_text().replace("18080", str(app_port)).replace(
        "name: stack-demo", f"name: {name}").replace("chatops-demo:v1", f"chatops-demo:{variant}")
    if delay:
        text = text.replace("environment:", f'environment:\n      DELAY: "{delay}"')
    compose.write_text(text)
    intent = repo / "chatops" / "intents" / "rollout_stack_demo.yaml"
    intent.write_text(intent.read_text().replace("18080", str(app_port)))
    docker("pull", "-q", f"{DEMO}:{variant}")
    state = tmp_path / "state"
    env = {**os.environ, "CHATOPS_API_KEY": KEY, "APPROVED_LABEL": "approved-by-gemini",
           "CHATOPS_STATE_DIR": str(state), "CHATOPS_STABILITY_WINDOW": "0.5s",
           "CHATOPS_SHUTDOWN_GRACE": grace}
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatops", "serve", "--repo", str(repo), "--port",
         str(api_port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{api_port}"
    for _ in range(100):
        try:
            if http_get(url + "/healthz")[0] == 200:
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError(f"chatops serve did not start: {proc.communicate()[1][-2000:]}")
    return Served(proc, url, repo, compose, app_port, state)


@pytest.fixture
def served(engine: None, tmp_path: Path) -> Iterator[Served]:
    server = _start(tmp_path)
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.proc.terminate()
            server.proc.wait(30)
        docker("compose", "-f", str(server.compose), "down", "-t", "1", check=False)


def wait_run(served: Served, accepted: dict) -> dict:
    run_url = served.url + accepted["links"]["self"]
    for _ in range(300):
        run = json.loads(subprocess.run(["curl", "-s", run_url, "-H", f"X-API-Key: {KEY}"],
                                        capture_output=True, text=True, check=True).stdout)
        if run["status"] not in ("queued", "running"):
            return dict(run)
        time.sleep(0.1)
    raise AssertionError(f"run {accepted['id']} did not finish")


def seed_curl(url: str, key: str, name: str, out: Path) -> int:
    """The seed workflow's step, verbatim but for host and key."""
    done = subprocess.run(
        ["curl", "-X", "POST", f"{url}/run", "-H", f"X-API-Key: {key}",
         "-H", "Content-Type: application/json", "-d", json.dumps({"name": name}),
         "-w", "\n%{http_code}", "-o", str(out)],
        capture_output=True, text=True, check=False)
    return int(done.stdout.strip().splitlines()[-1])


def test_the_seeds_curl_triggers_a_real_deploy(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "response.json"

    code = seed_curl(served.url, KEY, "rollout_stack_demo", out)

    assert code == 200
    body = json.loads(out.read_text())
    assert body["intent"] == "rollout_stack_demo"
    run = wait_run(served, body)
    assert run["status"] == "succeeded", run
    assert http_get(f"http://127.0.0.1:{served.app_port}/version")[1].strip() == "v1"
    assert seed_curl(served.url, "wrong", "rollout_stack_demo", out) == 401


def test_wait_true_fails_the_seeds_check_when_the_deploy_fails(served: Served,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert seed_curl(served.url, KEY, "rollout_stack_demo", out) == 200
    assert wait_run(served, json.loads(out.read_text()))["status"] == "succeeded"
    docker("pull", "-q", f"{DEMO}:bad500")
    served.compose.write_text(served.compose.read_text().replace("chatops-demo:v1",
                                                                 "chatops-demo:bad500"))
    intent = served.repo / "chatops" / "intents" / "rollout_stack_demo.yaml"
    intent.write_text(intent.read_text().replace("within: 20s", "within: 1s"))
    done = subprocess.run(
        ["curl", "-s", "-X", "POST", f"{served.url}/run", "-H", f"X-API-Key: {KEY}",
         "-H", "Content-Type: application/json", "-d",
         '{"name": "rollout_stack_demo", "wait": true}', "-w", "\n%{http_code}"],
        capture_output=True, text=True, check=False)
    body, code = done.stdout.rsplit("\n", 1)
    assert code == "500"
    assert json.loads(body)["run"]["status"] == "rolled_back", body[-3000:]
    assert http_get(f"http://127.0.0.1:{served.app_port}/version")[1].strip() == "v1"
    logs = [json.loads(line) for line in served_logs(served) if line.startswith("{")]
    assert any(ln["msg"] == "executing" and ln["client"] == "127.0.0.1" for ln in logs)
    assert KEY not in json.dumps(logs)


def served_logs(served: Served) -> list[str]:
    served.proc.send_signal(signal.SIGTERM)
    out, _ = served.proc.communicate(timeout=60)
    return out.splitlines()


def _sigterm_during_a_deploy(tmp_path: Path, delay: str, grace: str) -> tuple[str, str, str]:
    """Start a slow deploy, SIGTERM the service; return (run id, its final status, stderr)."""
    from chatops.store.sqlite import RunStore

    server = _start(tmp_path, variant="slow", delay=delay, grace=grace)
    try:
        out = tmp_path / "r.json"
        assert seed_curl(server.url, KEY, "rollout_stack_demo", out) == 200
        run_id = json.loads(out.read_text())["id"]
        time.sleep(0.5)
        server.proc.send_signal(signal.SIGTERM)
        _, err = server.proc.communicate(timeout=60)
        store = RunStore(server.state / "chatops.sqlite3")
        status = str(store.get_run(run_id, detail=False).status)
        store.close()
        return run_id, status, err
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
        docker("compose", "-f", str(server.compose), "down", "-t", "1", check=False)


def test_sigterm_lets_a_running_deploy_finish(engine: None, tmp_path: Path) -> None:
    _, status, _ = _sigterm_during_a_deploy(tmp_path, delay="2", grace="60")
    assert status == "succeeded"


def test_sigterm_past_the_grace_period_records_the_stopped_run(engine: None,
                                                               tmp_path: Path) -> None:
    run_id, status, err = _sigterm_during_a_deploy(tmp_path, delay="30", grace="1")
    assert status == "interrupted"
    assert run_id in err


def test_serve_refuses_to_listen_beyond_loopback_without_a_key(cli, tmp_path: Path,
                                                                monkeypatch) -> None:
    monkeypatch.delenv("CHATOPS_API_KEY", raising=False)
    result = cli("serve", "--host", "0.0.0.0", "--repo", str(tmp_path))  # noqa: S104
    assert result.code == 4
    assert "refusing to listen on 0.0.0.0 with no API key" in result.err


def test_bad_settings_name_the_variable(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CHATOPS_IP_ALLOWLIST", "100.64.0.0/10,not-an-address")
    result = cli("serve", "--repo", str(tmp_path))
    assert result.code == 4
    assert "CHATOPS_IP_ALLOWLIST" in result.err
    assert "not-an-address" in result.err
    assert "Traceback" not in result.err


def test_compose_is_asked_again_whenever_what_it_read_changed(served: Served) -> None:
    def run() -> dict:
        answer = httpx.post(served.url + "/run", headers={"X-API-Key": KEY},
                            json={"name": "rollout_stack_demo", "wait": True}, timeout=60)
        return dict(answer.json()["run"])

    def reading(run_record: dict) -> str:
        detail = httpx.get(served.url + f"/runs/{run_record['id']}",
                           headers={"X-API-Key": KEY}).json()
        (step,) = [s for s in detail["steps"] if s["phase"] == "preflight"]
        return str(step["description"])

    first = run()
    assert first["status"] == "succeeded", first
    assert "reused" not in reading(first)
    again = run()
    assert again["status"] == "succeeded", again
    assert "that reading is reused" in reading(again)  # nothing changed: no second ask
    # A file beside the compose file (.env: what Compose interpolates) changed: ask again.
    (served.compose.parent / ".env").write_text("UNUSED_BY_THE_FILE=1\n")
    after_env = run()
    assert "reused" not in reading(after_env)
    # An invalid file is refused by Compose itself, never by an old reading (valid YAML,
    # so the compose policy reads it and lets Compose judge it).
    good = served.compose.read_text()
    served.compose.write_text(good + "  bogus:\n    image: busybox\n    nonsense: 1\n")
    try:
        broken = httpx.post(served.url + "/run", headers={"X-API-Key": KEY},
                            json={"name": "rollout_stack_demo", "wait": True},
                            timeout=60).json()
    finally:
        served.compose.write_text(good)  # so that the fixture can take the stack down
    assert broken["run"]["status"] == "failed"
    assert "is invalid or unreadable, nothing was changed" in broken["run"]["reason"]
