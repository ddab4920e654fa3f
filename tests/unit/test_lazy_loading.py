"""A command loads what it uses: ``chatops validate`` (run by CI on every pull request)
needs no event loop, no HTTP client, no Prometheus client and none of the kinds that
registries load on first use. A module-level import in the wrong place shows up here,
not as a slower CI weeks later."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

INTENT = """\
label_required: deploy
action: rollout
stack: web
service: web
strategy: blue-green
health:
  - http: http://127.0.0.1:8080/health
  - tcp: 127.0.0.1:5432
traffic: {driver: haproxy, listen: "127.0.0.1:8080", ports: {blue: 8081, green: 8082}}
"""

NEVER_FOR_VALIDATE = ("asyncio", "httpx", "anyio", "h11", "http.client", "ssl",
                      "prometheus_client", "apprise",
                      "chatops.traffic.haproxy", "chatops.runner.executor",
                      "chatops.gitops.forges.github", "chatops.secrets.providers.vault")


def loaded(argv: list[str], cwd: Path, *, code: int = 0, env: dict[str, str] | None = None,
           says: str = "") -> set[str]:
    """The modules a ``chatops`` command imports, by Python's own import log (the command
    exits with ``code``, its error output ending with ``says``)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CHATOPS_")},
           **(env or {})}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "chatops", *argv],
                          cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == code, done.stdout + done.stderr[-2000:]
    told = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    assert "\n".join(told).endswith(says), told
    return {line.split("|")[2].strip() for line in done.stderr.splitlines()
            if line.startswith("import time:") and line.count("|") == 2}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "chatops" / "intents").mkdir(parents=True)
    (tmp_path / "chatops" / "intents" / "web.yaml").write_text(INTENT)
    return tmp_path


def test_validate_loads_no_event_loop_client_or_registry_kind(repo: Path) -> None:
    modules = loaded(["validate"], repo)
    assert "chatops.intents.model" in modules  # it did read the intent
    assert not modules & set(NEVER_FOR_VALIDATE)


def test_version_loads_none_of_chatops_beyond_its_command_line(repo: Path) -> None:
    modules = loaded(["--version"], repo)
    assert not {m for m in modules if m.startswith(("pydantic", "yaml", "chatops.intents"))}


def test_a_run_without_a_service_starts_without_click(repo: Path, tmp_path: Path) -> None:
    """``chatops run NAME`` with no service: read, checked and decided here, by the same
    use case, without the command-line library (here refused by a freeze, the last check
    before anything changes)."""
    modules = loaded(["run", "web"], repo, code=4,
                     env={"CHATOPS_STATE_DIR": str(tmp_path / "state"),
                          "CHATOPS_FREEZE": "always"},
                     says="a freeze is in force); --override-window deploys anyway")
    assert "chatops.application.runs" in modules
    assert not {m for m in modules if m == "click" or m.startswith("click.")}
