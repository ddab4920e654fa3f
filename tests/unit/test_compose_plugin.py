"""``docker compose`` runs the Compose plugin the docker CLI would run, directly (no CLI
start, no plugin listing), and is recorded as written; anything else runs as written.

The plugins here are small real programs that write how they were called."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from chatops.engine.docker import DockerEngine
from chatops.engine.plugins import SYSTEM_DIRS, direct, plugin_dirs
from chatops.engine.process import run_process


def program(path: Path, says: str) -> Path:
    """An executable that records its argv (and which program it is) in ``says``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\nimport json, sys\n"
                    f"open({says!r}, 'w').write(json.dumps(sys.argv))\n"
                    "print('compose ran')\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """A home with a docker CLI on its search path and a Compose plugin in its config."""
    bin_dir = tmp_path / "bin"
    program(bin_dir / "docker", str(tmp_path / "cli.json"))
    program(tmp_path / "home" / ".docker" / "cli-plugins" / "docker-compose",
            str(tmp_path / "plugin.json"))
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path / "home")}


def test_docker_compose_runs_the_plugin_and_is_recorded_as_written(
        home: dict[str, str], tmp_path: Path) -> None:
    engine = DockerEngine(env=home)
    lines: list[str] = []
    done = asyncio.run(engine.run(["docker", "compose", "-f", "x.yml", "up", "-d"], timeout=10,
                                  on_line=lambda line: lines.append(line.text)))
    assert done.ok
    assert done.argv == ("docker", "compose", "-f", "x.yml", "up", "-d")  # as planned
    assert lines == ["compose ran"]
    called = json.loads((tmp_path / "plugin.json").read_text())
    assert called == [str(Path(home["HOME"]) / ".docker/cli-plugins/docker-compose"),
                      "-f", "x.yml", "up", "-d"]
    assert not (tmp_path / "cli.json").exists()  # the docker CLI never started


def test_other_commands_run_as_written(home: dict[str, str], tmp_path: Path) -> None:
    engine = DockerEngine(env=home)
    done = asyncio.run(engine.run(["docker", "stack", "ls"], timeout=10))
    assert done.ok
    assert json.loads((tmp_path / "cli.json").read_text())[1:] == ["stack", "ls"]
    assert not (tmp_path / "plugin.json").exists()
    # A compose command set by the user (here the CLI's full path) is theirs to run.
    assert direct([f"{tmp_path}/bin/docker", "compose", "ps"], home) == (
        f"{tmp_path}/bin/docker", "compose", "ps")
    assert direct(["docker-compose", "ps"], home) == ("docker-compose", "ps")


def test_without_the_docker_cli_the_command_fails_as_it_would_by_hand(
        home: dict[str, str]) -> None:
    env = {**home, "PATH": "/nonexistent"}
    assert direct(["docker", "compose", "ps"], env) == ("docker", "compose", "ps")
    done = asyncio.run(DockerEngine(env=env).run(["docker", "compose", "ps"], timeout=10))
    assert done.error == "docker is not installed (not on PATH)"


def test_the_cli_order_config_dir_then_extra_dirs_then_the_system(
        home: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "config"
    extra = tmp_path / "extra"
    (config / "config.json").parent.mkdir(parents=True)
    (config / "config.json").write_text(json.dumps({"cliPluginsExtraDirs": [str(extra)]}))
    env = {**home, "DOCKER_CONFIG": str(config)}
    assert plugin_dirs(env) == [config / "cli-plugins", extra,
                                *(Path(d) for d in SYSTEM_DIRS)]
    # DOCKER_CONFIG replaces ~/.docker: the plugin under home is not the CLI's now.
    found = direct(["docker", "compose", "ps"], env)[0]
    assert found == "docker" or not found.startswith(home["HOME"])
    program(extra / "docker-compose", str(tmp_path / "extra.json"))
    assert direct(["docker", "compose", "ps"], env) == (str(extra / "docker-compose"), "ps")
    program(config / "cli-plugins" / "docker-compose", str(tmp_path / "mine.json"))
    assert direct(["docker", "compose", "ps"], env)[0] == str(
        config / "cli-plugins" / "docker-compose")


def test_a_plugin_that_cannot_run_is_skipped_and_a_broken_config_ignored(
        home: dict[str, str], tmp_path: Path) -> None:
    plugin = Path(home["HOME"]) / ".docker" / "cli-plugins" / "docker-compose"
    plugin.chmod(0o644)  # not executable: the CLI would not run it either
    (plugin.parent.parent / "config.json").write_text("{not json")
    found = direct(["docker", "compose", "ps"], home)
    assert found[0] != str(plugin)
    assert found[0] == "docker" or found[0].startswith(tuple(SYSTEM_DIRS))
    assert plugin_dirs(home)[1:] == [Path(d) for d in SYSTEM_DIRS]


@pytest.mark.docker
def test_the_real_plugin_is_the_one_the_cli_runs() -> None:
    """On this machine (scripts/harness.sh): the plugin found answers as ``docker
    compose`` does through the CLI."""
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": os.path.expanduser("~")}
    argv = ("docker", "compose", "version")
    plugin = direct(argv, env)
    assert plugin[0] != "docker", "no Compose plugin where the docker CLI looks"
    by_cli = asyncio.run(run_process(argv, timeout=30, env=env))
    by_plugin = asyncio.run(DockerEngine(env=env).run(argv, timeout=30))
    assert by_cli.ok, by_cli.describe()
    assert by_plugin.tail == by_cli.tail
    assert by_plugin.tail[0].startswith("Docker Compose version v2.")
