from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from chatops.cli import run

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_REPO = ROOT / "examples" / "homelab"

SEED_INTENT = """\
# Rollout Media Stack - Plex Update
# Purpose: Deploy Plex 1.40.5.8897 with subtitle rendering fixes
# Stack: stack-media (Plex, Sonarr, Radarr, Prowlarr, Transmission)
# Reference: STACK_MEDIA_CHECKLIST.md
# Post-deploy: Verify Plex :32400 responds and Uptime Kuma check passes

label_required: approved-by-gemini
action: rollout
stack: stack-media
service: plex
compose: "/opt/stacks/stack-media/docker-compose.yml"
"""


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., CliResult]:
    """Run ``chatops ARGS`` in-process, as the console script would, and capture its output."""
    monkeypatch.delenv("CHATOPS_REPO", raising=False)
    monkeypatch.setenv("CHATOPS_STATE_DIR", str(tmp_path_factory.mktemp("state")))

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        code = run(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def gitops(tmp_path: Path) -> Callable[..., Path]:
    """A fresh GitOps repository; call it with ``{"name.yaml": "yaml text"}`` to add intents."""
    root = tmp_path / "repo"
    (root / "chatops" / "intents").mkdir(parents=True)

    def make(intents: dict[str, str | bytes] | None = None) -> Path:
        for name, body in (intents or {}).items():
            path = root / "chatops" / "intents" / name
            if isinstance(body, bytes):
                path.write_bytes(body)
            else:
                path.write_text(textwrap.dedent(body), encoding="utf-8")
        return root

    return make


@pytest.fixture
def fake_discord(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A Discord webhook endpoint on loopback, with HTTPS routed to it (tests/fakes)."""
    from tests.fakes.discord import FakeDiscord

    fake = FakeDiscord(tmp_path).start()
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)
    yield fake
    fake.stop()
