"""Every string chatops writes into a proxy's configuration is written as that proxy
reads it: a real HAProxy checks (``haproxy -c``) and serves what chatops wrote for
hostile maintenance messages, word for word; control characters never reach it."""

from __future__ import annotations

import socket
import subprocess
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from chatops.traffic.base import Backend
from chatops.traffic.haproxy import render
from chatops.traffic.npm import nginx_text
from tests.proxies.haproxy import HAProxy, haproxy_or_skip

HOSTILE = [
    "it's \"quoted\", with a \\ backslash",
    "${HOME} and $PATH and \"$HOME\" stay as written",
    "# not a comment; %[req.hdr(host)] %s %% neither a sample",
    "line\rbreak\nand a new line\tand a tab",
    "'''",
    "",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def backend(message: str, listen: int) -> Backend:
    return Backend(stack="web", service="app", listen=f"127.0.0.1:{listen}",
                   upstreams={"blue": ("127.0.0.1", free_port()),
                              "green": ("127.0.0.1", free_port())}, message=message)


def shown(message: str) -> str:
    """What a person sees: the message, with control characters as spaces."""
    return "".join(" " if ord(ch) < 32 else ch for ch in message)


@pytest.mark.parametrize("message", HOSTILE)
def test_haproxy_accepts_and_serves_every_message_as_written(tmp_path: Path,
                                                              message: str) -> None:
    binary = haproxy_or_skip()
    proxy = HAProxy(tmp_path)
    listen = free_port()
    cfg = proxy.conf / "web-app.cfg"
    cfg.write_text(render(backend(message, listen), None, paused=True))
    check = subprocess.run([binary, "-c", "-f", str(proxy.global_cfg), "-f", str(proxy.conf)],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr + cfg.read_text()
    proxy.start()
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{listen}/", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert answer.status_code == 503
        assert answer.text == shown(message)
    finally:
        proxy.stop()


def test_a_control_character_in_the_message_is_refused_by_validate(cli, tmp_path: Path
                                                                   ) -> None:
    repo = tmp_path / "repo"
    (repo / "chatops" / "intents").mkdir(parents=True)
    (repo / "chatops" / "intents" / "bg.yaml").write_text(textwrap.dedent("""\
        label_required: approved
        action: rollout
        stack: web
        service: web
        strategy: blue-green
        traffic:
          driver: haproxy
          listen: 127.0.0.1:18180
          ports: {blue: 18181, green: 18182}
          message: "down\\r\\nfor maintenance"
        """))
    result = cli("validate", "--repo", str(repo))
    assert result.code != 0
    assert "traffic.message" in result.out + result.err
    assert "control character" in result.out + result.err


def test_nginx_text_leaves_out_what_nginx_would_interpret() -> None:
    assert nginx_text('a $host "b" \\c\r\nd') == "a host b c  d"
