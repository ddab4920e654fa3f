"""The harness works end to end: registry push, compose up, pull, recreate, HTTP on loopback."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.docker.conftest import DEMO, REGISTRY, DemoStack, docker, http_get, wait_for_http

pytestmark = pytest.mark.docker


def test_push_v1_and_v2_then_recreate_from_v1_to_v2(demo_stack: DemoStack) -> None:
    repo = f"{REGISTRY}/smoke-{uuid.uuid4().hex[:8]}"
    for tag in ("v1", "v2"):
        docker("tag", f"{DEMO}:{tag}", f"{repo}:{tag}")
        docker("push", "-q", f"{repo}:{tag}")
        docker("rmi", f"{repo}:{tag}")

    demo_stack.write(f"{repo}:v1")
    demo_stack.compose("pull")
    demo_stack.compose("up", "-d")
    assert wait_for_http(demo_stack.url + "/version", "v1").strip() == "v1"

    demo_stack.write(f"{repo}:v2")
    demo_stack.compose("pull")
    demo_stack.compose("up", "-d")
    assert wait_for_http(demo_stack.url + "/version", "v2").strip() == "v2"

    ps = demo_stack.compose("ps", "--format", "json").stdout
    rows = [json.loads(line) for line in ps.splitlines() if line.strip()]
    rows = rows[0] if rows and isinstance(rows[0], list) else rows
    assert [(r["Service"], r["State"], r["Image"]) for r in rows] == [
        ("web", "running", f"{repo}:v2")
    ]
    for tag in ("v1", "v2"):
        docker("rmi", f"{repo}:{tag}", check=False)


def test_broken_variants_behave_as_their_names_say(demo_stack: DemoStack, images) -> None:
    demo_stack.write(images("bad500"))
    demo_stack.compose("up", "-d")
    wait_for_http(demo_stack.url + "/version", "bad500")
    status, _ = http_get(demo_stack.url + "/cgi-bin/health")
    assert status == 500

    demo_stack.write(images("crash"))
    demo_stack.compose("up", "-d")
    state = ""
    for _ in range(50):
        state = demo_stack.compose("ps", "-a", "--format", "{{.State}}").stdout.strip()
        if state == "exited":
            break
        docker("info", "--format", "{{.ServerVersion}}")
    assert state == "exited"
