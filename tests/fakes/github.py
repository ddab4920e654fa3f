"""GitHub's REST API on loopback: exactly the endpoints chatops uses, shaped as documented.

``GET /repos/{owner}/{repo}/commits/{sha}/pulls`` and ``GET /repos/{owner}/{repo}/pulls/{n}``;
an issue's comments: ``GET`` and ``POST /repos/{owner}/{repo}/issues/{n}/comments`` (paged
by ``per_page`` and ``page``) and ``PATCH /repos/{owner}/{repo}/issues/comments/{id}``;
the repository itself, an issue's events (``labeled``, ``unlabeled``), the repository's
push activity, a collaborator's permission, a team membership, commit statuses;
with a bearer token check; ``fail_with`` makes it answer an error status, ``delay`` slow.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from tests.fakes.loopback import JsonHandler


class FakeGitHub:
    def __init__(self, repo: str = "homelab/gitops", token: str = "ghs_test") -> None:
        self.repo = repo
        self.token = token
        self.pulls: dict[int, dict[str, Any]] = {}
        self.commit_pulls: dict[str, list[int]] = {}
        self.fail_with: int | None = None
        self.delay = 0.0
        self.requests: list[str] = []
        self.comments: dict[int, list[dict[str, Any]]] = {}  # by issue number
        self.writes: list[tuple[str, str]] = []  # (method, path) of every change
        self.created: list[tuple[str, Any]] = []  # git/commits, git/refs, pulls: (what, body)
        self.events: dict[int, list[dict[str, Any]]] = {}  # issue events, by number
        self.activity: list[dict[str, Any]] = []  # pushes: after, ref, timestamp
        self.permissions: dict[str, str] = {"reviewer": "write", "dev": "write"}
        self.teams: dict[str, set[str]] = {}  # ORG/TEAM: logins
        self.statuses: list[tuple[str, dict[str, Any]]] = []  # (sha, body)
        self.deny: set[str] = set()  # path parts the token may not use (403)
        fake = self

        class Handler(JsonHandler):
            def _parts(self) -> list[str] | None:
                fake.requests.append(self.path)
                time.sleep(fake.delay)
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self._json(401, {"message": "Bad credentials"})
                    return None
                if fake.fail_with:
                    self._json(fake.fail_with, {"message": "simulated"})
                    return None
                parts = self.path.split("?")[0].strip("/").split("/")
                if fake.deny & set(parts):
                    self._json(403, {"message": "Resource not accessible by integration"})
                    return None
                if parts[0] == "orgs":
                    return parts
                if parts[:3] != ["repos", *fake.repo.split("/")][:3] or len(parts) < 3:
                    self._json(404, {"message": "Not Found"})
                    return None
                return parts

            def _body(self) -> dict[str, Any]:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                return json.loads(raw) if raw else {}

            def do_POST(self) -> None:
                parts = self._parts()
                if parts is None:
                    return
                if len(parts) < 4:
                    self._json(404, {"message": "Not Found"})
                    return
                if parts[3] == "statuses" and len(parts) == 5:
                    fake.writes.append(("POST", self.path))
                    fake.statuses.append((parts[4], self._body()))
                    self._json(201, {"id": len(fake.statuses)})
                elif parts[3:5] == ["git", "commits"] or parts[3:5] == ["git", "refs"] \
                        or (parts[3] == "pulls" and len(parts) == 4):
                    body = self._body()
                    fake.writes.append(("POST", self.path))
                    fake.created.append((parts[3] if parts[3] == "pulls" else
                                         f"git/{parts[4]}", body))
                    made = {"sha": "f" * 40, "number": 500 + len(fake.created),
                            "html_url": f"https://github.example/pull/{500 + len(fake.created)}",
                            **({"ref": body.get("ref")} if "ref" in body else {})}
                    self._json(201, made)
                elif parts[3] == "issues" and len(parts) == 6 and parts[5] == "comments":
                    body = self._body()
                    fake.writes.append(("POST", self.path))
                    made = {"id": 9000 + sum(map(len, fake.comments.values())),
                            "body": str(body["body"]), "user": {"login": "chatops[bot]"}}
                    fake.comments.setdefault(int(parts[4]), []).append(made)
                    self._json(201, made)
                else:
                    self._json(404, {"message": "Not Found"})

            def do_PATCH(self) -> None:
                parts = self._parts()
                if parts is None:
                    return
                if len(parts) < 4:
                    self._json(404, {"message": "Not Found"})
                    return
                if parts[3:5] == ["issues", "comments"] and len(parts) == 6:
                    body = self._body()
                    for comment in (c for cs in fake.comments.values() for c in cs):
                        if str(comment["id"]) == parts[5]:
                            comment["body"] = str(body["body"])
                            fake.writes.append(("PATCH", self.path))
                            self._json(200, comment)
                            return
                self._json(404, {"message": "Not Found"})

            def do_GET(self) -> None:
                parts = self._parts()
                if parts is None:
                    return
                query = dict(q.split("=", 1) for q in self.path.partition("?")[2].split("&")
                             if "=" in q)
                if len(parts) == 3:  # the repository itself
                    self._json(200, {"full_name": fake.repo, "private": True})
                elif parts[0] == "orgs":  # orgs/ORG/teams/TEAM/memberships/USER
                    members = fake.teams.get(f"{parts[1]}/{parts[3]}", set())
                    if len(parts) == 6 and parts[5] in members:
                        self._json(200, {"state": "active", "role": "member"})
                    else:
                        self._json(404, {"message": "Not Found"})
                elif parts[3] == "issues" and len(parts) == 6 and parts[5] == "events":
                    size, page = int(query.get("per_page", 30)), int(query.get("page", 1))
                    found = fake.events.get(int(parts[4]), [])
                    self._json(200, found[(page - 1) * size:page * size])
                elif parts[3] == "activity":
                    ref = query.get("ref", "").replace("%2F", "/")
                    self._json(200, [a for a in fake.activity if a["ref"] == ref])
                elif parts[3] == "collaborators" and len(parts) == 6:
                    level = fake.permissions.get(parts[4], "none")
                    self._json(200, {"permission": "write" if level == "maintain" else level,
                                     "role_name": level, "user": {"login": parts[4]}})
                elif parts[3] == "issues" and len(parts) == 6 and parts[5] == "comments":
                    size, page = int(query.get("per_page", 30)), int(query.get("page", 1))
                    found = fake.comments.get(int(parts[4]), [])
                    self._json(200, found[(page - 1) * size:page * size])
                elif parts[3] == "commits" and len(parts) == 6 and parts[5] == "pulls":
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
                  merged: bool = True, labeller: str = "reviewer",
                  labelled_at: str = "2026-11-26T14:00:00Z",
                  pushed_at: str = "2026-11-26T13:00:00Z") -> None:
        """A merged pull request whose head (``pr-N`` at ``sha``) was pushed at
        ``pushed_at`` and whose labels ``labeller`` added at ``labelled_at``."""
        branch = f"pr-{number}"
        self.activity.append({"id": len(self.activity) + 1, "before": "0" * 40,
                              "after": sha, "ref": f"refs/heads/{branch}",
                              "timestamp": pushed_at, "activity_type": "push",
                              "actor": {"login": author}})
        self.events[number] = [
            {"id": i, "event": "labeled", "actor": {"login": labeller},
             "label": {"name": name}, "created_at": labelled_at}
            for i, name in enumerate(labels)]
        self.pulls[number] = {
            "head": {"sha": sha, "ref": branch, "repo": {"full_name": self.repo}},
            "created_at": "2026-11-26T12:00:00Z",
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
