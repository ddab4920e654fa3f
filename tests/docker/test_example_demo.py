"""The shipped demo repository deploys and verifies on the real engine."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.docker.conftest import DEMO, docker, free_port, http_get

pytestmark = pytest.mark.docker


def test_demo_repo_deploys_and_verifies(cli, engine, tmp_path: Path, monkeypatch) -> None:
    repo = tmp_path / "demo"
    shutil.copytree(ROOT / "examples" / "demo", repo)
    port, name = str(free_port()), f"demo-{uuid.uuid4().hex[:8]}"
    compose = repo / "stacks" / "stack-demo" / "docker-compose.yml"
    intent = repo / "chatops" / "intents" / "rollout_stack_demo.yaml"
    docker("pull", "-q", f"{DEMO}:v1")
    compose.write_text(compose.read_text().replace("18080", port)
                       .replace("name: stack-demo", f"name: {name}"))
    intent.write_text(intent.read_text().replace("18080", port))
    try:
        assert cli("validate", "--repo", str(repo)).code == 0
        result = cli("run", "--repo", str(repo), "rollout_stack_demo")
        assert result.code == 0, result.out + result.err
        assert "✅ SUCCEEDED" in result.out
        assert http_get(f"http://127.0.0.1:{port}/version")[1].strip() == "v1"
    finally:
        docker("compose", "-f", str(compose), "down", "-t", "1", check=False)


def test_demo_blue_green_stack_switches_behind_haproxy(cli, engine, tmp_path: Path,
                                                      monkeypatch) -> None:
    from tests.proxies.haproxy import HAProxy

    repo = tmp_path / "demo"
    shutil.copytree(ROOT / "examples" / "demo", repo)
    ports = {old: str(free_port()) for old in ("18180", "18181", "18182")}
    compose = repo / "stacks" / "stack-web" / "docker-compose.yml"
    intent = repo / "chatops" / "intents" / "bluegreen_stack_web.yaml"
    stack = f"web-{uuid.uuid4().hex[:8]}"
    text = intent.read_text().replace("stack: stack-web", f"stack: {stack}")
    for old, new in ports.items():
        text = text.replace(old, new)
    intent.write_text(text)
    (repo / "stacks" / stack).mkdir()
    compose.rename(repo / "stacks" / stack / "docker-compose.yml")
    compose = repo / "stacks" / stack / "docker-compose.yml"
    proxy = HAProxy(tmp_path / "haproxy")
    # The example's HAProxy part, with the socket moved into the test's folder.
    proxy.global_cfg.write_text((ROOT / "examples" / "demo" / "haproxy" / "haproxy.cfg")
                                .read_text().replace("/run/haproxy/admin.sock",
                                                     str(proxy.socket)))
    for key, value in proxy.env().items():
        monkeypatch.setenv(key, value)
    docker("pull", "-q", f"{DEMO}:v1")
    docker("pull", "-q", f"{DEMO}:v2")
    url = f"http://127.0.0.1:{ports['18180']}"
    try:
        assert cli("validate", "--repo", str(repo)).code == 0
        assert cli("traffic", "config", "bluegreen_stack_web", "--repo", str(repo),
                   "--write").code == 0
        proxy.start()
        result = cli("run", "--repo", str(repo), "bluegreen_stack_web", "--local")
        assert result.code == 0, result.out + result.err
        assert http_get(url + "/version")[1].strip() == "v1"
        compose.write_text(compose.read_text().replace("chatops-demo:v1", "chatops-demo:v2"))
        result = cli("run", "--repo", str(repo), "bluegreen_stack_web", "--local")
        assert result.code == 0, result.out + result.err
        assert "traffic switched from green to blue" in result.out
        assert http_get(url + "/version")[1].strip() == "v2"
    finally:
        proxy.stop()
        for slot in ("blue", "green"):
            docker("compose", "-p", f"{stack}-web-{slot}", "down", "-t", "1", check=False)


def test_demo_notes_stack_backs_its_volume_up_before_a_rollout(
        cli, engine, tmp_path: Path, monkeypatch) -> None:
    import tarfile

    repo = tmp_path / "demo"
    shutil.copytree(ROOT / "examples" / "demo", repo)
    port, name = str(free_port()), f"notes-{uuid.uuid4().hex[:8]}"
    volume = f"{name}-data"
    compose = repo / "stacks" / "stack-notes" / "docker-compose.yml"
    intent = repo / "chatops" / "intents" / "rollout_stack_notes.yaml"
    compose.write_text(compose.read_text().replace("18280", port)
                       .replace("name: stack-notes", f"name: {name}")
                       .replace("name: notes-data", f"name: {volume}"))
    backups = tmp_path / "backups"
    text = intent.read_text().replace("18280", port).replace('"notes-data"', f'"{volume}"')
    intent.write_text(text.replace("/var/backups/chatops", str(backups)))
    docker("pull", "-q", f"{DEMO}:v1")
    try:
        docker("volume", "create", volume)
        mount = docker("volume", "inspect", "--format", "{{ .Mountpoint }}", volume).stdout
        (Path(mount.strip()) / "note.txt").write_text("buy milk\n")
        assert cli("validate", "--repo", str(repo)).code == 0
        result = cli("run", "--repo", str(repo), "rollout_stack_notes")
        assert result.code == 0, result.out + result.err
        assert f"backed up volume {volume} to {backups}" in result.out
        (archive,) = backups.glob(f"{volume}-*.tar.gz")
        with tarfile.open(archive) as tar:
            assert tar.extractfile("./note.txt").read() == b"buy milk\n"
        # A failed backup vetoes the next rollout before anything changes.
        intent.write_text(text.replace("/var/backups/chatops", "/proc/no-such-place"))
        result = cli("run", "--repo", str(repo), "rollout_stack_notes")
        assert result.code == 1
        assert "pre_deploy hook ./scripts/backup-volume.sh failed" in result.out + result.err
        assert http_get(f"http://127.0.0.1:{port}/version")[1].strip() == "v1"
    finally:
        docker("compose", "-f", str(compose), "down", "-t", "1", check=False)
        docker("volume", "rm", "-f", volume, check=False)
