"""``chatops serve`` as a real process on a free loopback port, for tests that need the
real HTTP stack (uvicorn, the bounded connection protocol, the guard) end to end."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

KEY = "served-env-key-" + uuid.uuid4().hex


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    proc: subprocess.Popen[str]
    port: int
    state: Path
    repo: Path
    env: dict[str, str] = field(default_factory=dict)
    stderr: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post(self, path: str, body: Any, key: str = KEY, source: str = "127.0.0.1",
             **headers: str) -> httpx.Response:
        with httpx.Client(transport=httpx.HTTPTransport(local_address=source),
                          timeout=30) as client:
            return client.post(self.url + path, content=json.dumps(body), headers={
                "content-type": "application/json", "x-api-key": key, **headers})

    def get(self, path: str, key: str | None = KEY, source: str = "127.0.0.1",
            method: str = "GET") -> httpx.Response:
        with httpx.Client(transport=httpx.HTTPTransport(local_address=source),
                          timeout=30) as client:
            return client.request(method, self.url + path,
                                  headers={"x-api-key": key} if key else {})

    def stop(self) -> str:
        """Stop the service (once) and return what it wrote to stderr."""
        if self.stderr is not None:
            return self.stderr
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        _, self.stderr = self.proc.communicate()
        return self.stderr

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


def start(repo: Path, state: Path, *, env: dict[str, str] | None = None,
          wait: bool = True, log: Path | None = None) -> Service:
    """Start ``chatops serve`` on ``repo`` with its state in ``state`` (its JSON log
    lines to ``log`` when given)."""
    port = free_port()
    full = {**os.environ, "CHATOPS_API_KEY": KEY, "APPROVED_LABEL": "approved",
            "CHATOPS_STATE_DIR": str(state), "CHATOPS_SHUTDOWN_GRACE": "2",
            **(env or {})}
    full.pop("CHATOPS_CONFIG", None)
    out = log.open("ab") if log is not None else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "chatops", "serve", "--repo", str(repo), "--port",
             str(port)], env=full, stdout=out, stderr=subprocess.PIPE, text=True)
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]
    service = Service(proc, port, state, repo, full)
    if not wait:
        return service
    for _ in range(200):
        if proc.poll() is not None:
            raise AssertionError(f"chatops serve exited: {proc.communicate()[1][-2000:]}")
        try:
            if httpx.get(service.url + "/healthz", timeout=1).status_code == 200:
                return service
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"chatops serve did not start: {proc.communicate()[1][-2000:]}")


def raw_request(port: int, data: bytes, *, source: str = "127.0.0.1",
                timeout: float = 10.0) -> bytes:
    """Send ``data`` as it is (httpx refuses what these tests need to send) and read the
    answer until the service closes the connection or sends a whole response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                  source_address=(source, 0)) as conn:
        # Refused before it was all sent: the answer is still there to read.
        with contextlib.suppress(OSError):
            conn.sendall(data)
        chunks = []
        while True:
            try:
                chunk = conn.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
            got = b"".join(chunks)
            head, sep, body = got.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), None)
            if sep and length is not None and len(body) >= length:
                break
        return b"".join(chunks)
