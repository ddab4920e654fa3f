"""An Uptime Kuma stand-in on loopback, speaking the endpoints chatops reads.

It monitors its targets for real (an HTTP GET every ``interval``, UP on a 2xx answer),
keeps heartbeats with Kuma's UTC time format, and serves them as Kuma does:
``/api/status-page/heartbeat/<slug>`` (JSON) and ``/api/badge/<id>/status`` (an SVG
badge whose title reads ``Status: Up``). ``/api/push/<token>`` records pushes.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import JsonHandler

LABELS = {1: "Up", 0: "Down", 2: "Pending", 3: "Maintenance"}


class FakeKuma:
    def __init__(self, slug: str = "homelab", interval: float = 0.2) -> None:
        self.slug = slug
        self.interval = interval
        self.targets: dict[int, str] = {}
        self.forced: dict[int, int] = {}
        self.beats: dict[int, list[dict[str, Any]]] = {}
        self.pushes: list[dict[str, str]] = []
        #: Answers to give the next pushes, in order: (status, extra headers).
        self.push_answers: list[tuple[int, dict[str, str]]] = []
        self._stop = threading.Event()
        kuma = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                segs = parts.path.strip("/").split("/")
                if segs[:3] == ["api", "status-page", "heartbeat"] and len(segs) == 4:
                    if segs[3] != kuma.slug:
                        self._bytes(404, b'{"ok":false,"msg":"Not Found"}', "application/json")
                        return
                    body = {"heartbeatList": {str(m): b for m, b in kuma.beats.items()},
                            "uptimeList": {}}
                    self._bytes(200, json.dumps(body).encode(), "application/json")
                elif segs[:2] == ["api", "badge"] and len(segs) == 4 and segs[3] == "status":
                    monitor = int(segs[2])
                    beats = kuma.beats.get(monitor) or []
                    status = beats[-1]["status"] if beats else None
                    label = LABELS.get(status, "N/A") if status is not None else "N/A"
                    svg = (f'<svg xmlns="http://www.w3.org/2000/svg"><title>Status: {label}'
                           f"</title><text>{label}</text></svg>")
                    self._bytes(200, svg.encode(), "image/svg+xml")
                elif segs[:2] == ["api", "push"] and len(segs) == 3:
                    if kuma.push_answers:
                        status, headers = kuma.push_answers.pop(0)
                        body = b'{"ok":false,"msg":"busy"}'
                        self.send_response(status)
                        for name, value in headers.items():
                            self.send_header(name, value)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return
                    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                    kuma.pushes.append({"token": segs[2], **query})
                    self._bytes(200, b'{"ok":true}', "application/json")
                else:
                    self._bytes(404, b'{"ok":false}', "application/json")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def monitor(self, monitor: int, target: str) -> None:
        self.targets[monitor] = target
        self.beats.setdefault(monitor, [])

    def force(self, monitor: int, status: int | None) -> None:
        """Report ``status`` whatever the target answers (None: check the target again)."""
        if status is None:
            self.forced.pop(monitor, None)
        else:
            self.forced[monitor] = status

    def _check(self, target: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(target, timeout=2) as resp:  # noqa: S310 - loopback
                return (1, "") if 200 <= resp.status < 300 else (0, f"{resp.status}")
        except urllib.error.HTTPError as exc:
            return 0, f"{exc.code}"
        except OSError as exc:
            return 0, str(exc)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for monitor, target in list(self.targets.items()):
                status, msg = self._check(target)
                status = self.forced.get(monitor, status)
                now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
                beats = self.beats.setdefault(monitor, [])
                beats.append({"status": status, "time": now, "msg": msg, "ping": 1})
                del beats[:-100]
            time.sleep(self.interval)

    def start(self) -> FakeKuma:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        threading.Thread(target=self._loop, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
