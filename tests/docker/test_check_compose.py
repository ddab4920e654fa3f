"""``chatops validate --check-compose`` asks the real Compose about each referenced file."""

from __future__ import annotations

import pytest

from tests.docker.conftest import DemoStack

pytestmark = pytest.mark.docker


def intent_for(stack: DemoStack) -> str:
    return f"label_required: approved\naction: rollout\nstack: {stack.name}\n"


def test_valid_compose_file_passes(cli, demo_stack: DemoStack) -> None:
    intents = demo_stack.root / "chatops" / "intents"
    intents.mkdir(parents=True)
    (intents / "deploy.yaml").write_text(intent_for(demo_stack))
    result = cli("validate", "--repo", str(demo_stack.root), "--check-compose")
    assert result.code == 0, result.out
    assert f"  ✓ deploy.yaml (doc 1/1): rollout on {demo_stack.name}" in result.out


def test_invalid_compose_file_fails_with_composes_own_words(cli, demo_stack: DemoStack) -> None:
    demo_stack.compose_file.write_text("services:\n  web:\n    image: x\n    imag: y\n")
    intents = demo_stack.root / "chatops" / "intents"
    intents.mkdir(parents=True)
    (intents / "deploy.yaml").write_text(intent_for(demo_stack))
    result = cli("validate", "--repo", str(demo_stack.root), "--check-compose")
    assert result.code == 1
    line = next(ln for ln in result.out.splitlines() if "✗" in ln)
    assert line.startswith("  ✗ deploy.yaml (doc 1/1): compose: docker compose config rejected")
    assert "imag" in line


def test_missing_compose_file_is_reported(cli, gitops) -> None:
    repo = gitops({"deploy.yaml": "label_required: l\naction: up\nstack: nowhere\n"})
    result = cli("validate", "--repo", str(repo), "--check-compose")
    assert result.code == 1
    assert "compose: compose file" in result.out
    assert "stacks/nowhere/docker-compose.yml does not exist" in result.out
