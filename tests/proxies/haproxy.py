"""A real HAProxy on loopback for tests: its own global section, runtime socket and the
directory chatops writes backends into (``haproxy -f global.cfg -f conf.d``)."""

from __future__ import annotations

import subprocess
import textwrap
import time
from pathlib import Path

from tests.proxies import binary_or_skip, stop_group


def haproxy_or_skip() -> str:
    return binary_or_skip("haproxy", "scripts/harness.sh installs Debian's haproxy")


class HAProxy:
    """One HAProxy process; ``start`` after chatops wrote the backend, ``kill`` to fault."""

    def __init__(self, root: Path) -> None:
        self.binary = haproxy_or_skip()
        self.root = root
        self.socket = root / "admin.sock"
        self.conf = root / "conf.d"
        self.conf.mkdir(parents=True, exist_ok=True)
        self.global_cfg = root / "global.cfg"
        self.global_cfg.write_text(textwrap.dedent(f"""\
            global
                stats socket {self.socket} mode 600 level admin
                maxconn 4096
            defaults
                mode http
                timeout connect 2s
                timeout client 30s
                timeout server 30s
            """))
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "haproxy.log"

    def env(self) -> dict[str, str]:
        return {"CHATOPS_HAPROXY_SOCKET": str(self.socket),
                "CHATOPS_HAPROXY_CONFIG": str(self.conf)}

    def start(self) -> None:
        self.socket.unlink(missing_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "-db", "-f", str(self.global_cfg), "-f", str(self.conf)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"haproxy did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        stop_group(self.proc, kill=True)
        self.proc = None

    def stop(self) -> None:
        stop_group(self.proc)
        self.proc = None
