"""GitHub's REST API on loopback: exactly the endpoints chatops uses, shaped as documented.

``GET /repos/{owner}/{repo}/commits/{sha}/pulls`` and ``GET /repos/{owner}/{repo}/pulls/{n}``,
with a bearer token check; ``fail_with`` makes it answer an error status, ``delay`` slow.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeGitHub:
    def __init__(self, repo: str = "homelab/gitops", token: str = "ghs_test") -> None:
        self.repo = repo
        self.token = token
        self.pulls: dict[int, dict[str, Any]] = {}
        self.commit_pulls: dict[str, list[int]] = {}
        self.fail_with: int | None = None
        self.delay = 0.0
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                fake.requests.append(self.path)
                time.sleep(fake.delay)
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self._json(401, {"message": "Bad credentials"})
                    return
                if fake.fail_with:
                    self._json(fake.fail_with, {"message": "simulated"})
                    return
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[:3] != ["repos", *fake.repo.split("/")][:3] or len(parts) < 5:
                    self._json(404, {"message": "Not Found"})
                    return
                if parts[3] == "commits" and len(parts) == 6 and parts[5] == "pulls":
                    numbers = fake.commit_pulls.get(parts[4], [])
                    self._json(200, [fake._simple(n) for n in numbers])
                elif parts[3] == "pulls" and len(parts) == 5 and parts[4].isdigit():
                    number = int(parts[4])
                    if number not in fake.pulls:
                        self._json(404, {"message": "Not Found"})
                    else:
                        self._json(200, fake.pulls[number])
                else:
                    self._json(404, {"message": "Not Found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.api = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _simple(self, number: int) -> dict[str, Any]:
        full = self.pulls[number]
        return {k: full[k] for k in ("number", "state", "title", "user", "labels", "base",
                                     "merged_at", "merge_commit_sha", "html_url")}

    def merged_pr(self, number: int, sha: str, *, labels: list[str], author: str = "dev",
                  merged_by: str | None = "reviewer", base: str = "main",
                  merged: bool = True) -> None:
        self.pulls[number] = {
            "number": number, "state": "closed", "title": f"PR {number}",
            "user": {"login": author},
            "labels": [{"name": name, "id": i} for i, name in enumerate(labels)],
            "base": {"ref": base}, "merged": merged,
            "merged_at": "2026-11-26T15:00:00Z" if merged else None,
            "merged_by": {"login": merged_by} if merged and merged_by else None,
            "merge_commit_sha": sha,
            "html_url": f"https://github.com/{self.repo}/pull/{number}",
        }
        self.commit_pulls.setdefault(sha, []).append(number)

    def start(self) -> FakeGitHub:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
