"""A loopback HTTP server that answers 200 and keeps every request: the Discord API's
interaction webhooks and bot messages, Slack's ``response_url`` and Web API, as chatops
calls them. ``answers`` maps a path (its start) to the JSON it answers, as the platform
documents it (a message's id, Slack's ``ok``)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Recorder:
    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.bodies: list[Any] = []  # the JSON bodies alone, in order
        self.authorizations: list[str] = []
        self.answers = answers or {}
        seen, bodies, auths, answers_ = self.requests, self.bodies, self.authorizations, \
            self.answers

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def _record(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                body = json.loads(raw) if raw else None
                seen.append((self.command, self.path, body))
                bodies.append(body)
                auths.append(self.headers.get("Authorization", ""))
                found = next((v for k, v in answers_.items() if self.path.startswith(k)), {})
                answer = json.dumps(found(self.path, body) if callable(found)
                                    else found).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_POST = do_PATCH = do_PUT = do_GET = _record

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, text: str, deadline: float = 20.0,
                 path: str | None = None) -> tuple[str, str, Any]:
        """The first request whose body holds ``text`` (sent to ``path``, if given)."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            for request in list(self.requests):
                if path not in (None, request[1]):
                    continue
                if text in json.dumps(request[2], ensure_ascii=False):
                    return request
            time.sleep(0.05)
        raise AssertionError(f"no request with {text!r}; got {self.requests}")

    def stop(self) -> None:
        self.server.shutdown()
