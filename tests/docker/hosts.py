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
    tcp: tuple[int, Path] | None = None  # with TLS: its port, the client's certificates

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "-H", self.url, *args], capture_output=True,
                              text=True, check=check, timeout=120)


def make_tls(folder: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (Docker's
    names: the server's in ``folder``, the client's in ``folder/client``)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    def cert(name: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
             signer: ec.EllipticCurvePrivateKey, *, ca: bool = False,
             usage: x509.ObjectIdentifier | None = None) -> x509.Certificate:
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                   .issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                                  critical=True))
        if usage is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if usage == ExtendedKeyUsageOID.SERVER_AUTH:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chatops test CA")])
    ca = cert("chatops test CA", ca_key, ca_name, ca_key, ca=True)
    server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    server = cert("127.0.0.1", server_key, ca_name, ca_key,
                  usage=ExtendedKeyUsageOID.SERVER_AUTH)
    client = cert("chatops", client_key, ca_name, ca_key,
                  usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    pem = serialization.Encoding.PEM
    (folder / "client").mkdir(parents=True)
    for where in (folder, folder / "client"):
        (where / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "server-cert.pem").write_bytes(server.public_bytes(pem))
    (folder / "server-key.pem").write_bytes(pem_key(server_key))
    (folder / "client" / "cert.pem").write_bytes(client.public_bytes(pem))
    (folder / "client" / "key.pem").write_bytes(pem_key(client_key))
    return folder / "client"


@contextlib.contextmanager
def extra_engine(*, tls: bool = False) -> Iterator[ExtraEngine]:
    """Another engine beside the harness's (short paths: unix sockets are short); with
    ``tls``, it also listens on a loopback TCP port that wants client certificates."""
    root = Path(tempfile.mkdtemp(prefix="ce", dir="/tmp"))
    log = (root / "dockerd.log").open("wb")
    argv = ["dockerd", "-H", f"unix://{root / 'docker.sock'}", "--data-root", str(root / "d"),
            "--exec-root", str(root / "x"), "--pidfile", str(root / "pid"), "--bridge=none",
            "--iptables=false", "--ip-masq=false", "--ip6tables=false"]
    tcp = None
    if tls:
        certs = root / "tls"
        client = make_tls(certs)
        tcp = (free_port(), client)
        argv += ["-H", f"tcp://127.0.0.1:{tcp[0]}", "--tlsverify",
                 "--tlscacert", str(certs / "ca.pem"), "--tlscert",
                 str(certs / "server-cert.pem"), "--tlskey", str(certs / "server-key.pem")]
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    engine = ExtraEngine(root, proc, tcp)
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
