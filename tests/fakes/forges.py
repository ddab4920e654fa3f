"""Gitea (Forgejo) and GitLab on loopback: exactly the endpoints chatops uses, shaped as
each forge documents them (Gitea's ``/api/v1`` swagger, GitLab's REST API v4 pages), with
their token headers (``Authorization: token ...``, ``PRIVATE-TOKEN``) checked. No Gitea,
Forgejo or GitLab package can run on this machine: these stand-ins are what chatops is
tested against, beside the GitHub one (``tests.fakes.github``).

``merged_pr`` records a merged pull request the way the forge would: its labels added by
someone at a time, its head pushed at a time. ``requests`` lists every path asked;
``statuses``, ``comments`` and ``created`` what chatops wrote; ``deny`` makes the token
lack a permission (403) for paths with that part.
"""

from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.loopback import JsonHandler

USERS = {"dev": 11, "reviewer": 12, "outsider": 13, "lead": 14}


class _Forge:
    prefix = ""

    def __init__(self, repo: str, token: str) -> None:
        self.repo, self.token = repo, token
        self.requests: list[str] = []
        self.pulls: dict[int, dict[str, Any]] = {}  # number: what merged_pr was told
        self.by_commit: dict[str, int] = {}
        self.permissions: dict[str, str] = {"reviewer": "write", "dev": "write",
                                            "lead": "admin"}
        self.teams: dict[str, set[str]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.statuses: list[tuple[str, dict[str, Any]]] = []
        self.created: list[dict[str, Any]] = []  # pull (merge) requests opened
        self.deny: set[str] = set()
        fake = self

        class Handler(JsonHandler):
            def _serve(self, method: str) -> None:
                fake.requests.append(f"{method} {self.path}")
                url = urlsplit(self.path)
                if not fake.authorized(self.headers):
                    self._json(401, {"message": "token is required"})
                    return
                parts = [unquote(p) for p in url.path.removeprefix(fake.prefix)
                         .strip("/").split("/")]
                if fake.deny & set(parts):
                    self._json(403, {"message": "token does not have the required scope"})
                    return
                size = int(self.headers.get("Content-Length", "0") or 0)
                body = json.loads(self.rfile.read(size)) if size else {}
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                found = fake.route(method, parts, query, body)
                if found is None:
                    self._json(404, {"message": "Not Found"})
                else:
                    self._json(*found)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PATCH(self) -> None:
                self._serve("PATCH")

            def do_PUT(self) -> None:
                self._serve("PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def authorized(self, headers: Any) -> bool:
        raise NotImplementedError

    def route(self, method: str, parts: list[str], query: dict[str, str],
              body: dict[str, Any]) -> tuple[int, Any] | None:
        raise NotImplementedError

    def merged_pr(self, number: int, sha: str, *, labels: list[str], author: str = "dev",
                  labeller: str = "reviewer", labelled_at: str = "2026-11-26T14:00:00Z",
                  pushed_at: str = "2026-11-26T13:00:00Z", base: str = "main",
                  merged: bool = True) -> None:
        self.pulls[number] = {"sha": sha, "labels": labels, "author": author,
                              "labeller": labeller, "labelled_at": labelled_at,
                              "pushed_at": pushed_at, "base": base, "merged": merged}
        self.by_commit[sha] = number

    def _comments(self, number: int) -> list[dict[str, Any]]:
        return self.comments.setdefault(number, [])

    def _new_comment(self, number: int, body: dict[str, Any]) -> dict[str, Any]:
        made = {"id": 7000 + sum(map(len, self.comments.values())), "body": body["body"]}
        self._comments(number).append(made)
        return made

    def _edit_comment(self, cid: str, body: dict[str, Any]) -> dict[str, Any] | None:
        for comment in (c for cs in self.comments.values() for c in cs):
            if str(comment["id"]) == cid:
                comment["body"] = body["body"]
                return comment
        return None

    def start(self) -> _Forge:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeGitea(_Forge):
    """Gitea's (and Forgejo's) API v1."""

    prefix = "/api/v1"

    def __init__(self, repo: str = "homelab/gitops", token: str = "gitea_test") -> None:
        super().__init__(repo, token)

    def authorized(self, headers: Any) -> bool:
        return headers.get("Authorization") == f"token {self.token}"

    def _pull(self, number: int) -> dict[str, Any]:
        pr = self.pulls[number]
        return {"id": number, "number": number, "title": f"PR {number}", "state": "closed",
                "user": {"login": pr["author"]}, "merged": pr["merged"],
                "merged_by": {"login": "reviewer"} if pr["merged"] else None,
                "labels": [{"id": i, "name": n} for i, n in enumerate(pr["labels"])],
                "base": {"ref": pr["base"]},
                "head": {"ref": f"pr-{number}", "sha": pr["sha"],
                         "repo": {"full_name": self.repo}},
                "html_url": f"{self.url}/{self.repo}/pulls/{number}",
                "created_at": "2026-11-26T12:00:00Z"}

    def _timeline(self, number: int) -> list[dict[str, Any]]:
        pr = self.pulls[number]
        found = [{"id": 1, "type": "pull_push", "created_at": pr["pushed_at"],
                  "user": {"login": pr["author"]},
                  "body": json.dumps({"is_force_push": False, "commit_ids": [pr["sha"]]})}]
        found += [{"id": 10 + i, "type": "label", "body": "1",
                   "created_at": pr["labelled_at"], "user": {"login": pr["labeller"]},
                   "label": {"name": name}} for i, name in enumerate(pr["labels"])]
        return found

    def route(self, method: str, parts: list[str], query: dict[str, str],
              body: dict[str, Any]) -> tuple[int, Any] | None:
        owner, name = self.repo.split("/")
        if parts[0] == "orgs" and parts[2:4] == ["teams", "search"]:
            teams = [{"id": i, "name": t.split("/")[1]} for i, t in enumerate(self.teams)
                     if t.split("/")[0] == parts[1]
                     and t.split("/")[1] == query.get("q")]
            return 200, {"ok": True, "data": teams}
        if parts[0] == "teams" and len(parts) == 4:
            team = list(self.teams)[int(parts[1])]
            return (200, {"login": parts[3]}) if parts[3] in self.teams[team] else None
        if parts[:3] != ["repos", owner, name] or len(parts) < 4:
            return None
        rest = parts[3:]
        page, limit = int(query.get("page", 1)), int(query.get("limit", 30))
        if method == "GET" and rest[0] == "commits" and rest[2:] == ["pull"]:
            number = self.by_commit.get(rest[1])
            return None if number is None else (200, self._pull(number))
        if method == "GET" and rest[0] == "issues" and rest[2:] == ["timeline"]:
            found = self._timeline(int(rest[1]))
            return 200, found[(page - 1) * limit:page * limit]
        if method == "GET" and rest[0] == "collaborators" and rest[2:] == ["permission"]:
            level = self.permissions.get(rest[1], "none")
            return 200, {"permission": "owner" if level == "admin" else level}
        if rest[0] == "issues" and rest[2:] == ["comments"]:
            if method == "POST":
                return 201, self._new_comment(int(rest[1]), body)
            return 200, self._comments(int(rest[1]))[(page - 1) * limit:page * limit]
        if method == "PATCH" and rest[:2] == ["issues", "comments"]:
            edited = self._edit_comment(rest[2], body)
            return None if edited is None else (200, edited)
        if method == "POST" and rest[0] == "statuses":
            self.statuses.append((rest[1], body))
            return 201, {"id": len(self.statuses), **body}
        if method == "POST" and rest == ["pulls"]:
            self.created.append(body)
            number = 900 + len(self.created)
            return 201, {"number": number, "html_url": f"{self.url}/pulls/{number}"}
        return None


class FakeGitLab(_Forge):
    """GitLab's REST API v4."""

    prefix = "/api/v4"

    def __init__(self, repo: str = "homelab/infra/gitops", token: str = "glpat-test") -> None:
        super().__init__(repo, token)

    def authorized(self, headers: Any) -> bool:
        return headers.get("PRIVATE-TOKEN") == self.token

    def _mr(self, number: int) -> dict[str, Any]:
        pr = self.pulls[number]
        return {"id": 100 + number, "iid": number, "title": f"MR {number}",
                "state": "merged" if pr["merged"] else "closed",
                "author": {"username": pr["author"], "id": USERS.get(pr["author"], 99)},
                "merge_user": {"username": "reviewer"} if pr["merged"] else None,
                "labels": pr["labels"], "target_branch": pr["base"],
                "source_branch": f"mr-{number}", "sha": pr["sha"],
                "web_url": f"{self.url}/{self.repo}/-/merge_requests/{number}",
                "created_at": "2026-11-26T12:00:00Z"}

    def route(self, method: str, parts: list[str], query: dict[str, str],
              body: dict[str, Any]) -> tuple[int, Any] | None:
        if parts[0] == "users":
            uid = USERS.get(query.get("username", ""))
            return 200, [] if uid is None else [{"id": uid,
                                                 "username": query["username"]}]
        if parts[0] == "groups" and parts[2:4] == ["members", "all"]:
            user = next((u for u, i in USERS.items() if str(i) == parts[4]), "")
            return (200, {"id": int(parts[4]), "access_level": 30}) \
                if user in self.teams.get(parts[1], set()) else None
        if parts[:2] != ["projects", self.repo] or len(parts) < 3:
            return None
        rest = parts[2:]
        page, size = int(query.get("page", 1)), int(query.get("per_page", 20))
        if method == "GET" and rest[:2] == ["repository", "commits"] and rest[3:] == [
                "merge_requests"]:
            number = self.by_commit.get(rest[2])
            return 200, [] if number is None else [self._mr(number)]
        if rest[:2] == ["members", "all"] and method == "GET":
            user = next((u for u, i in USERS.items() if str(i) == rest[2]), "")
            level = {"read": 20, "write": 30, "maintain": 40, "admin": 50}.get(
                self.permissions.get(user, "none"))
            return None if level is None else (200, {"id": int(rest[2]),
                                                     "access_level": level})
        if rest[0] == "merge_requests" and len(rest) >= 3:
            number, what = int(rest[1]), rest[2]
            pr = self.pulls.get(number)
            if what == "resource_label_events" and pr is not None:
                events = [{"id": i, "action": "add", "created_at": pr["labelled_at"],
                           "user": {"username": pr["labeller"],
                                    "id": USERS.get(pr["labeller"], 99)},
                           "label": {"id": i, "name": n}, "resource_type": "MergeRequest",
                           "resource_id": 100 + number}
                          for i, n in enumerate(pr["labels"])]
                return 200, events[(page - 1) * size:page * size]
            if what == "versions" and pr is not None:
                return 200, [{"id": 1, "head_commit_sha": pr["sha"],
                              "created_at": pr["pushed_at"], "state": "collected"}]
            if what == "notes" and len(rest) == 3:
                if method == "POST":
                    return 201, self._new_comment(number, body)
                return 200, self._comments(number)[(page - 1) * size:page * size]
            if what == "notes" and method == "PUT":
                edited = self._edit_comment(rest[3], body)
                return None if edited is None else (200, edited)
        if method == "POST" and rest[0] == "statuses":
            self.statuses.append((rest[1], body))
            return 201, {"id": len(self.statuses), **body}
        if method == "POST" and rest == ["merge_requests"]:
            self.created.append(body)
            number = 900 + len(self.created)
            return 201, {"iid": number, "web_url": f"{self.url}/-/merge_requests/{number}"}
        return None
