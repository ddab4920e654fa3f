"""Every command reads the same settings from ``CHATOPS_CONFIG`` alone: the repository and
the state directory set only in the TOML file are found by the CLI as by the service,
and a CLI command finds the service that the same file started."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from tests.served import free_port

INTENT = "# Pull web\nlabel_required: approved\naction: pull\nstack: web\n"


def chatops(env: dict[str, str], *args: str, stdin: str | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chatops", *args], env=env, cwd=cwd,
                          input=stdin, capture_output=True, text=True, timeout=60,
                          check=False)


def only_the_file(tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    repo = tmp_path / "gitops"
    (repo / "chatops" / "intents").mkdir(parents=True)
    (repo / "chatops" / "intents" / "pull_web.yaml").write_text(INTENT)
    (repo / "stacks" / "web").mkdir(parents=True)
    (repo / "stacks" / "web" / "docker-compose.yml").write_text(
        "services:\n  web:\n    image: 127.0.0.1:5000/chatops-demo:v1\n")
    state = tmp_path / "state"
    port = free_port()
    config = tmp_path / "chatops.toml"
    config.write_text(f'[deploy]\nrepo = "{repo}"\nstate_dir = "{state}"\n'
                      f'[server]\nport = {port}\n'
                      f'api_key = "config-file-key-{uuid.uuid4().hex}"\n'
                      '[approval]\napproved_labels = "approved"\n')
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CHATOPS_") and k != "APPROVED_LABEL"}
    env["CHATOPS_CONFIG"] = str(config)
    env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
    return env, state, repo


def test_every_command_reads_repo_and_state_from_the_file_alone(tmp_path: Path) -> None:
    env, state, _ = only_the_file(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def ok(*args: str, stdin: str | None = None) -> str:
        done = chatops(env, *args, stdin=stdin, cwd=elsewhere)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout + done.stderr

    assert "pull_web.yaml" in ok("validate")
    assert "Plan for intent pull_web" in ok("plan", "pull_web", "--local")
    assert "pull_web" in ok("run", "pull_web", "--dry-run", "--local")
    assert "no intent has a schedule" in ok("schedules")
    ok("keys", "create", "ci")
    assert "ci" in ok("keys", "list")
    ok("users", "add", "ann", "--scopes", "read", "--password-stdin",
       stdin="a long enough password\n")
    assert "ann" in ok("users", "list")
    ok("runs")
    ok("audit", "verify")
    assert (state / "chatops.sqlite3").is_file()
    assert not (elsewhere / "chatops").exists()


def test_the_cli_finds_the_service_the_same_file_started(tmp_path: Path) -> None:
    env, _, _ = only_the_file(tmp_path)
    port = int(Path(env["CHATOPS_CONFIG"]).read_text().split("port = ")[1].split()[0])
    proc = subprocess.Popen([sys.executable, "-m", "chatops", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        done = chatops(env, "run", "pull_web", "--dry-run", cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "via the chatops service" in done.stderr
        assert "Plan for intent pull_web" in done.stdout
    finally:
        proc.terminate()
        proc.wait(30)
        if proc.stderr is not None:
            proc.stderr.close()
