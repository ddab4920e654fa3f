"""An Nginx Proxy Manager stand-in on loopback, in front of a real nginx.

NPM itself cannot be installed here. This speaks the endpoints chatops uses, as NPM
documents them: ``POST /api/tokens`` (``identity``/``secret`` to a bearer token),
``GET`` and ``PUT /api/nginx/proxy-hosts/{id}``. Like NPM, a ``PUT`` writes the host's
nginx configuration, tests it (``nginx -t``) and reloads nginx (``nginx -s reload``);
like NPM, it answers 200 even when the new configuration failed, with
``meta.nginx_online: false`` and ``meta.nginx_err`` (and puts the last good one back).
So what a reload costs under load is real, not hidden.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.proxies import binary_or_skip, stop_group


def nginx_or_skip() -> str:
    return binary_or_skip("nginx", "scripts/harness.sh installs nginx-light")


class FakeNPM:
    def __init__(self, root: Path, email: str = "admin@example.com",
                 password: str = "a-long-npm-password") -> None:
        self.nginx = nginx_or_skip()
        self.root = root
        self.email, self.password = email, password
        self.hosts: dict[int, dict[str, Any]] = {}
        self.tokens: set[str] = set()
        self.reloads = 0
        self.lock = threading.Lock()
        (root / "hosts").mkdir(parents=True, exist_ok=True)
        (root / "logs").mkdir(exist_ok=True)
        self.conf = root / "nginx.conf"
        self.conf.write_text(textwrap.dedent(f"""\
            worker_processes 1;
            pid {root}/nginx.pid;
            error_log {root}/logs/error.log warn;
            events {{ worker_connections 1024; }}
            http {{
                access_log off;
                client_body_temp_path {root}/spool-body;
                proxy_temp_path {root}/spool-proxy;
                fastcgi_temp_path {root}/spool-fastcgi;
                uwsgi_temp_path {root}/spool-uwsgi;
                scgi_temp_path {root}/spool-scgi;
                include {root}/hosts/*.conf;
            }}
            """))
        self.nginx_proc: subprocess.Popen[bytes] | None = None
        npm = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length) or b"{}")

            def _authorized(self) -> bool:
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if token in npm.tokens:
                    return True
                self._send(401, {"error": {"code": 401, "message": "Unauthorized"}})
                return False

            def _host_id(self) -> int | None:
                tail = self.path.removeprefix("/api/nginx/proxy-hosts/")
                return int(tail) if tail.isdigit() else None

            def do_POST(self) -> None:
                if self.path != "/api/tokens":
                    self._send(404, {"error": {"code": 404, "message": "Not Found"}})
                    return
                body = self._body()
                if body.get("identity") != npm.email or body.get("secret") != npm.password:
                    self._send(401, {"error": {"code": 401,
                                               "message": "Invalid email or password"}})
                    return
                token = secrets.token_urlsafe(24)
                npm.tokens.add(token)
                self._send(200, {"token": token, "expires": "2099-01-01T00:00:00.000Z"})

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                host = npm.hosts.get(self._host_id() or -1)
                if host is None:
                    self._send(404, {"error": {"code": 404, "message": "Not Found"}})
                    return
                self._send(200, host)

            def do_PUT(self) -> None:
                if not self._authorized():
                    return
                host_id = self._host_id()
                if host_id not in npm.hosts:
                    self._send(404, {"error": {"code": 404, "message": "Not Found"}})
                    return
                self._send(200, npm.update(host_id, self._body()))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    # -- nginx -----------------------------------------------------------------------------

    def add_host(self, host_id: int, listen: int, forward_port: int) -> None:
        self.hosts[host_id] = {
            "id": host_id, "domain_names": ["app.home.arpa"], "forward_scheme": "http",
            "forward_host": "127.0.0.1", "forward_port": forward_port, "enabled": True,
            "advanced_config": "", "listen": listen,
            "meta": {"nginx_online": True, "nginx_err": None},
        }
        self._write(self.hosts[host_id])

    def _write(self, host: dict[str, Any]) -> None:
        text = textwrap.dedent(f"""\
            server {{
                listen 127.0.0.1:{host['listen']};
                location / {{
                    proxy_pass {host['forward_scheme']}://{host['forward_host']}:{host['forward_port']};
                    proxy_http_version 1.1;
                    proxy_set_header Connection "";
                }}
            """) + "".join(f"    {line}\n" for line in host["advanced_config"].splitlines()) \
            + "}\n"
        (self.root / "hosts" / f"{host['id']}.conf").write_text(text)

    def update(self, host_id: int, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            host = self.hosts[host_id]
            before = dict(host)
            for key in ("forward_host", "forward_port", "forward_scheme", "advanced_config",
                        "enabled"):
                if key in body:
                    host[key] = body[key]
            self._write(host)
            test = subprocess.run([self.nginx, "-t", "-q", "-c", str(self.conf)],
                                  capture_output=True, text=True, check=False)
            if test.returncode != 0:
                self.hosts[host_id] = before | {"meta": {"nginx_online": False,
                                                         "nginx_err": test.stderr.strip()}}
                self._write(before)
                return self.hosts[host_id]
            subprocess.run([self.nginx, "-c", str(self.conf), "-s", "reload"],
                           capture_output=True, check=False)
            self.reloads += 1
            host["meta"] = {"nginx_online": True, "nginx_err": None}
            return host

    def start(self) -> FakeNPM:
        self.nginx_proc = subprocess.Popen(
            [self.nginx, "-c", str(self.conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while not (self.root / "nginx.pid").exists():
            if time.monotonic() > deadline:
                raise AssertionError("nginx did not start")
            time.sleep(0.05)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        stop_group(self.nginx_proc)
