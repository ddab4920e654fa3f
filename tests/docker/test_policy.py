"""The compose policy on the real engine: a compose file that asks for the host (runs
privileged, mounts the engine's socket or /, adds a capability, takes a device) is
refused before anything runs, naming the file, service, field and rule; the running
version keeps serving and no container of the new one exists."""

from __future__ import annotations

import pytest

from tests.docker.conftest import DemoStack, docker, wait_for_http
from tests.docker.test_run import serve_v1

pytestmark = pytest.mark.docker


@pytest.mark.parametrize(("extra", "rule", "field"), [
    ("    privileged: true\n", "privileged", "privileged"),
    ("    volumes: [/var/run/docker.sock:/var/run/docker.sock]\n", "docker_socket",
     "volumes[0]"),
    ("    volumes: [\"/:/host:ro\"]\n", "root_mount", "volumes[0]"),
    ("    cap_add: [SYS_ADMIN]\n", "cap_add", "cap_add"),
    ("    devices: [/dev/null:/dev/x]\n", "devices", "devices"),
    ("    security_opt: [seccomp=unconfined]\n", "unconfined", "security_opt"),
])
def test_a_compose_file_that_asks_for_the_host_is_refused_before_anything_runs(
        cli, demo_stack: DemoStack, images, monkeypatch: pytest.MonkeyPatch, *, extra: str,
        rule: str, field: str) -> None:
    monkeypatch.setenv("CHATOPS_STABILITY_WINDOW", "0.5s")
    serve_v1(demo_stack, cli)
    before = docker("compose", "-p", demo_stack.name, "ps", "-q").stdout.split()

    demo_stack.write(images("v2"))
    demo_stack.compose_file.write_text(demo_stack.compose_file.read_text() + extra)
    result = cli("run", "--repo", str(demo_stack.root), "deploy")

    assert result.code != 0
    text = result.err + result.out
    assert "the compose policy refuses" in text, text
    assert f"stacks/{demo_stack.name}/docker-compose.yml: service web: {field}:" in text
    assert f"(rule {rule})" in text
    assert docker("compose", "-p", demo_stack.name, "ps", "-q").stdout.split() == before
    assert wait_for_http(demo_stack.url + "/version", "v1").strip() == "v1"
