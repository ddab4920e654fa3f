"""A Discord webhook endpoint on loopback, reached the way Apprise reaches discord.com.

Apprise's Discord plugin always posts to https://discord.com/api/webhooks/ID/TOKEN. Tests
set ``HTTPS_PROXY`` to this server and ``REQUESTS_CA_BUNDLE`` to its certificate
authority: it accepts the CONNECT, speaks TLS as discord.com with a certificate from that
authority, and answers as Discord documents. Nothing leaves the machine: the proxy never
connects anywhere.

It checks payloads against Discord's documented limits (content 2,000 characters, 10
embeds, title 256, description 4,096, 25 fields of 256/1,024, 6,000 in all) and can be
told to answer 429 with ``retry_after``, 5xx, or to hang.
"""

from __future__ import annotations

import json
import socket
import socketserver
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

LIMITS = {"content": 2000, "title": 256, "description": 4096, "field_name": 256,
          "field_value": 1024, "footer": 2048, "embeds": 10, "fields": 25, "total": 6000}


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a discord.com certificate it signed (openssl, argv only)."""
    ca_key, ca_pem = folder / "ca.key", folder / "ca.pem"
    key, csr, pem = folder / "discord.key", folder / "discord.csr", folder / "discord.pem"
    ext = folder / "ext.cnf"
    ext.write_text("subjectAltName=DNS:discord.com,DNS:discordapp.com\n"
                   "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n")
    run = [
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key),
         "-out", str(ca_pem), "-days", "2", "-subj", "/CN=chatops test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
         str(csr), "-subj", "/CN=discord.com"],
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_pem), "-CAkey",
         str(ca_key), "-CAcreateserial", "-out", str(pem), "-days", "2", "-extfile", str(ext)],
    ]
    for argv in run:
        subprocess.run(argv, check=True, capture_output=True)
    return ca_pem, pem, key


def violations(payload: Any) -> list[str]:
    """What Discord would refuse in ``payload`` (an empty list: it would accept it)."""
    if not isinstance(payload, dict):
        return ["body is not a JSON object"]
    found = []
    content = payload.get("content") or ""
    embeds = payload.get("embeds") or []
    if not content and not embeds:
        found.append("neither content nor embeds")
    if len(content) > LIMITS["content"]:
        found.append(f"content is {len(content)} characters")
    if len(embeds) > LIMITS["embeds"]:
        found.append(f"{len(embeds)} embeds")
    total = 0
    for embed in embeds:
        title, desc = embed.get("title") or "", embed.get("description") or ""
        fields = embed.get("fields") or []
        footer = (embed.get("footer") or {}).get("text") or ""
        if len(title) > LIMITS["title"]:
            found.append(f"embed title is {len(title)} characters")
        if len(desc) > LIMITS["description"]:
            found.append(f"embed description is {len(desc)} characters")
        if len(fields) > LIMITS["fields"]:
            found.append(f"{len(fields)} fields")
        for f in fields:
            if not f.get("name") or len(f["name"]) > LIMITS["field_name"]:
                found.append("field name empty or too long")
            if not f.get("value") or len(f["value"]) > LIMITS["field_value"]:
                found.append("field value empty or too long")
        if len(footer) > LIMITS["footer"]:
            found.append("footer too long")
        total += len(title) + len(desc) + len(footer) + sum(
            len(f.get("name", "")) + len(f.get("value", "")) for f in fields)
    if total > LIMITS["total"]:
        found.append(f"embeds hold {total} characters in all")
    return found


class FakeDiscord:
    def __init__(self, folder: Path) -> None:
        self.ca, cert, key = make_certificates(folder)
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls.load_cert_chain(cert, key)
        self.messages: list[dict[str, Any]] = []
        self.paths: list[str] = []  # the webhook path of each accepted message
        self.refused: list[list[str]] = []
        self.requests = 0
        #: What to answer next, in order: ("429", seconds), ("500", 0), ("hang", seconds).
        self.answers: list[tuple[str, float]] = []
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                fake._handle(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.proxy = f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeDiscord:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def env(self) -> dict[str, str]:
        """Environment that routes HTTPS (and so Apprise) through this fake."""
        return {"HTTPS_PROXY": self.proxy, "https_proxy": self.proxy,
                "REQUESTS_CA_BUNDLE": str(self.ca), "NO_PROXY": "", "no_proxy": ""}

    @staticmethod
    def _read_head(sock: Any) -> tuple[bytes, bytes]:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        return head, rest

    def _handle(self, raw: socket.socket) -> None:
        head, _ = self._read_head(raw)
        if not head.startswith(b"CONNECT "):
            raw.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        raw.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        try:
            sock = self.tls.wrap_socket(raw, server_side=True)
        except ssl.SSLError:
            return
        head, body = self._read_head(sock)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        self.requests += 1
        answer = self.answers.pop(0) if self.answers else ("ok", 0.0)
        if answer[0] == "hang":
            time.sleep(answer[1])
        if answer[0] == "429":
            wait = answer[1]
            reply = json.dumps({"message": "You are being rate limited.",
                                "retry_after": wait, "global": False}).encode()
            extra = (f"Retry-After: {max(1, round(wait))}\r\nX-RateLimit-Remaining: 0\r\n"
                     f"X-RateLimit-Reset: {int(time.time() + wait)}\r\n")
            self._reply(sock, 429, reply, extra)
            return
        if answer[0] == "500":
            self._reply(sock, 500, b'{"message": "500: Internal Server Error"}')
            return
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            payload = None
        problems = violations(payload)
        if problems:
            self.refused.append(problems)
            self._reply(sock, 400, json.dumps({"code": 50035, "message": "Invalid Form Body",
                                               "errors": problems}).encode())
            return
        self.messages.append(payload)
        self.paths.append(lines[0].split(" ")[1].split("?")[0])
        self._reply(sock, 204, b"")

    @staticmethod
    def _reply(sock: Any, status: int, body: bytes, extra: str = "") -> None:
        reason = {204: "No Content", 400: "Bad Request", 429: "Too Many Requests",
                  500: "Internal Server Error"}.get(status, "OK")
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n")
        try:
            sock.sendall(head.encode() + body)
            sock.close()
        except OSError:
            pass
