"""More Docker hosts on this machine, as HARNESS.md has them: a second (and third)
``dockerd`` on its own socket, data and exec roots (loopback only, no bridge), and an
``sshd`` on a loopback port with key authentication, through which chatops reaches one
of them as ``ssh://root@127.0.0.1:PORT``."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.docker.conftest import free_port


@dataclass
class ExtraEngine:
    root: Path
    proc: subprocess.Popen[bytes]

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "-H", self.url, *args], capture_output=True,
                              text=True, check=check, timeout=120)


@contextlib.contextmanager
def extra_engine() -> Iterator[ExtraEngine]:
    """Another engine beside the harness's (short paths: unix sockets are short)."""
    root = Path(tempfile.mkdtemp(prefix="ce", dir="/tmp"))
    log = (root / "dockerd.log").open("wb")
    proc = subprocess.Popen(
        ["dockerd", "-H", f"unix://{root / 'docker.sock'}", "--data-root", str(root / "d"),
         "--exec-root", str(root / "x"), "--pidfile", str(root / "pid"), "--bridge=none",
         "--iptables=false", "--ip-masq=false", "--ip6tables=false"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    engine = ExtraEngine(root, proc)
    try:
        for _ in range(300):
            if proc.poll() is not None:
                log_text = (root / "dockerd.log").read_text()[-2000:]
                raise AssertionError(f"dockerd exited: {log_text}")
            if engine.socket.exists() and engine.docker("info", check=False).returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("dockerd did not answer within 30 s")
        yield engine
    finally:
        with contextlib.suppress(Exception):
            ids = engine.docker("ps", "-aq", check=False).stdout.split()
            if ids:
                engine.docker("rm", "-f", *ids, check=False)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
        subprocess.run(["umount", "-R", str(root / "d")], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Sshd:
    port: int
    key: Path  # the client's private key
    known_hosts: Path


@contextlib.contextmanager
def sshd(max_sessions: int = 2) -> Iterator[Sshd]:
    """An sshd on 127.0.0.1 with one authorized key, and a known_hosts naming it.
    ``MaxSessions`` is low on purpose: chatops must not need sessions per connection."""
    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        raise AssertionError("sshd is missing: scripts/harness.sh installs openssh-server")
    root = Path(tempfile.mkdtemp(prefix="ssh", dir="/tmp"))
    port = free_port()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "host")],
                   check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "client")],
                   check=True)
    (root / "authorized_keys").write_text((root / "client.pub").read_text())
    host_key = (root / "host.pub").read_text().split()
    (root / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    (root / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {root / 'host'}\n"
        f"PidFile {root / 'sshd.pid'}\nAuthorizedKeysFile {root / 'authorized_keys'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
        f"AllowStreamLocalForwarding yes\nMaxSessions {max_sessions}\n")
    Path("/run/sshd").mkdir(exist_ok=True)
    for path in root.iterdir():
        path.chmod(0o600)
    root.chmod(0o700)
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(root / "sshd_config")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            if proc.poll() is not None:
                raise AssertionError(f"sshd exited: {proc.communicate()[1][-2000:]!r}")
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            time.sleep(0.05)
        yield Sshd(port, root / "client", root / "known_hosts")
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)
