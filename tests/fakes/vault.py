"""A HashiCorp Vault / OpenBao stand-in on loopback, speaking the documented endpoints
chatops calls (no Vault or OpenBao package is reachable from this machine):

- ``GET /v1/{mount}/data/{path}`` (KV version 2): ``{"data": {"data": {...},
  "metadata": {"version": N, ...}}}`` with ``X-Vault-Token``; 403 ``{"errors":
  ["permission denied"]}`` for a wrong token; 404 ``{"errors": []}`` for no secret;
- ``POST /v1/auth/approle/login`` with ``role_id`` and ``secret_id``:
  ``{"auth": {"client_token": ..., "lease_duration": ...}}``.

``delay`` makes every answer slow (a server that times out).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeVault:
    def __init__(self, token: str = "root-token-for-tests") -> None:
        self.token = token
        self.approles: dict[str, str] = {}  # role_id -> secret_id
        self.secrets: dict[str, dict[str, Any]] = {}  # "mount/path" -> fields
        self.requests: list[tuple[str, str]] = []
        self.delay = 0.0
        issued: set[str] = {token}
        vault = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Vault serves
            # Headers and body in one write, no Nagle: a keep-alive client is not held
            # by delayed ACKs (as it is not by Vault).
            wbufsize = 64 * 1024
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                return

            def _send(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                vault.requests.append(("GET", self.path))
                time.sleep(vault.delay)
                if self.headers.get("X-Vault-Token") not in issued:
                    self._send(403, {"errors": ["permission denied"]})
                    return
                parts = self.path.split("?", 1)[0].strip("/").split("/")
                if len(parts) < 4 or parts[0] != "v1" or parts[2] != "data":
                    self._send(404, {"errors": []})
                    return
                key = "/".join([parts[1], *parts[3:]])
                if key not in vault.secrets:
                    self._send(404, {"errors": []})
                    return
                self._send(200, {"request_id": "r", "lease_duration": 0, "renewable": False,
                                 "data": {"data": vault.secrets[key],
                                          "metadata": {"version": 1, "destroyed": False}}})

            def do_POST(self) -> None:
                vault.requests.append(("POST", self.path))
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                time.sleep(vault.delay)
                if self.path != "/v1/auth/approle/login":
                    self._send(404, {"errors": []})
                    return
                if vault.approles.get(body.get("role_id")) != body.get("secret_id"):
                    self._send(400, {"errors": ["invalid role or secret ID"]})
                    return
                token = f"s.approle-{len(issued)}"
                issued.add(token)
                self._send(200, {"auth": {"client_token": token, "lease_duration": 3600,
                                          "renewable": True}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
