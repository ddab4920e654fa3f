"""The state directory holds key and password hashes, sessions and the run history: it is
created 0700 and its files 0600 whatever the umask, and ``chatops serve`` warns when it
finds them wider."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.api.test_dashboard import add_user
from tests.served import start

INTENT = "label_required: approved\naction: pull\nstack: web\n"


def repo_at(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "chatops" / "intents").mkdir(parents=True)
    (repo / "chatops" / "intents" / "deploy_web.yaml").write_text(INTENT)
    return repo


def modes(state: Path) -> dict[str, int]:
    return {str(p.relative_to(state)): stat.S_IMODE(p.stat().st_mode)
            for p in [state, *state.rglob("*")] if not p.is_socket()}


def test_the_state_directory_is_private_whatever_the_umask(tmp_path: Path) -> None:
    state = tmp_path / "deep" / "state"
    old = os.umask(0o002)  # a permissive umask, as some distributions set for users
    try:
        service = start(repo_at(tmp_path), state, env={
            "DOCKER_HOST": "unix:///nonexistent/docker.sock"})
        assert add_user(state, "ann", "read").returncode == 0
    finally:
        os.umask(old)
    try:
        assert service.post("/run", {"name": "deploy_web", "dry_run": True}).status_code == 200
        assert service.get("/audit").status_code == 200
    finally:
        err = service.stop()
    found = modes(state)
    assert found["."] == 0o700
    assert stat.S_IMODE(state.parent.stat().st_mode) == 0o700  # created for it, too
    files = {name: mode for name, mode in found.items()
             if name != "." and not (state / name).is_dir()}
    assert "chatops.sqlite3" in files
    assert "audit.sqlite3" in files
    assert {name: mode for name, mode in files.items() if mode & 0o077} == {}
    assert {name: mode for name, mode in found.items()
            if (state / name).is_dir() and mode & 0o077} == {}
    assert "warning" not in err


def test_serve_warns_when_the_state_directory_is_readable_by_others(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    service = start(repo_at(tmp_path), state, env={
        "DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    err = service.stop()
    assert "warning: others than this user may read the state directory" in err
    assert f"{state} (mode 0755)" in err
    assert f"chmod -R go= {state}" in err
