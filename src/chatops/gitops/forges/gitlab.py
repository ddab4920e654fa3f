"""GitLab's REST API (``/api/v4``, gitlab.com or a self-managed instance at
``CHATOPS_FORGE_URL``): the documented endpoints chatops uses. The repository is the
project's path (``group/subgroup/project``).

The merge request that merged a commit: ``GET /projects/:id/repository/commits/:sha/
merge_requests``. Who labelled it: ``GET /projects/:id/merge_requests/:iid/
resource_label_events``; when its head was pushed: the merge request's diff versions
(``GET .../versions``, one per push, timed by the server). Permissions: ``GET /users?
username=``, then ``GET /projects/:id/members/all/:user_id`` (the access level) or
``GET /groups/:path/members/all/:user_id``. The plan comment: the merge request's notes.
A commit status: ``POST /projects/:id/statuses/:sha``. A revert merge request:
``POST /projects/:id/merge_requests`` from a branch chatops pushed. Webhooks carry the
secret itself in ``X-Gitlab-Token`` (compared in constant time) and a unique
``X-Gitlab-Event-UUID``.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from chatops.errors import ConfigError, ForgeError, InvalidPayloadError
from chatops.gitops.forges.base import (
    SHA40,
    Delivery,
    ForgeAPI,
    LabelEvent,
    LabelHistory,
    PullEvent,
    PullRequest,
    check_signature,
    credentials,
    delivery_id,
    header,
    json_body,
    parse_time,
    push_of,
)

if TYPE_CHECKING:
    from datetime import datetime

    from chatops.settings import Settings

PROJECT_RE = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
#: GitLab's access levels as chatops's permission levels.
ACCESS = {10: "read", 15: "read", 20: "read", 30: "write", 40: "maintain", 50: "admin",
          60: "admin"}
STATES = {"pending": "pending", "success": "success", "failure": "failed"}
EVENTS = {"Push Hook": "push", "Merge Request Hook": "pull_request"}


class GitLab(ForgeAPI):
    forge = "GitLab"
    makes_commits = False

    def __init__(self, repo: str, token: str, url: str = "https://gitlab.com",
                 timeout: float = 10.0) -> None:
        if not PROJECT_RE.match(repo):
            raise ConfigError(f"CHATOPS_FORGE_REPO: expected the project's path "
                              f"(GROUP/NAME), got {repo!r}")
        api = url.rstrip("/")
        super().__init__(api if api.endswith("/api/v4") else f"{api}/api/v4",
                         {"PRIVATE-TOKEN": token}, timeout)
        self.repo = repo
        self.project = self.repo_path = f"/projects/{quote(repo, safe='')}"
        self._users: dict[str, int | None] = {}

    def _pull(self, found: dict[str, Any]) -> PullRequest:
        merger = found.get("merge_user") or found.get("merged_by") or {}
        return PullRequest(
            number=int(found.get("iid") or 0), title=str(found.get("title") or "")[:200],
            author=str((found.get("author") or {}).get("username") or ""),
            merged_by=merger.get("username"),
            labels=tuple(str(lb.get("name") if isinstance(lb, dict) else lb)
                         for lb in found.get("labels") or []),
            base=str(found.get("target_branch") or ""),
            merged=found.get("state") == "merged", state=str(found.get("state") or ""),
            url=str(found.get("web_url") or ""), head=str(found.get("sha") or ""),
            head_ref=str(found.get("source_branch") or ""), head_repo=self.repo,
            opened_at=str(found.get("created_at") or ""))

    async def merged_pull_request(self, sha: str, branch: str) -> PullRequest | None:
        found = self._list(await self._get(
            f"{self.project}/repository/commits/{sha}/merge_requests", "the read_api scope",
            missing=f"project {self.repo} or commit {sha[:12]}"),
            "the commit's merge requests")
        found.sort(key=lambda m: (m.get("state") == "merged", m.get("target_branch") == branch),
                   reverse=True)
        return self._pull(found[0]) if found else None

    async def label_history(self, pr: PullRequest, pushed_by: datetime | None = None
                            ) -> LabelHistory:
        start, events = self.requests, list[LabelEvent]()
        mr = f"{self.project}/merge_requests/{pr.number}"
        for event in await self._all(
                lambda page: f"{mr}/resource_label_events?per_page=100&page={page}",
                size=100, pages=10, needs="the read_api scope",
                missing=f"merge request !{pr.number}", what="the label events"):
            at, user = parse_time(event.get("created_at")), event.get("user") or {}
            if at is not None and event.get("action") in ("add", "remove"):
                events.append(LabelEvent(
                    str((event.get("label") or {}).get("name") or ""),
                    str(user.get("username") or ""), event.get("action") == "add", at))
            if isinstance(user.get("id"), int):  # no lookup of the labeller by name
                self._users[str(user.get("username"))] = user["id"]
        if pushed_by is not None:
            return LabelHistory(tuple(events), pushed_by, requests=self.requests - start,
                                from_forge=False)
        versions = self._list(await self._get(f"{mr}/versions", "the read_api scope",
                                              missing=f"merge request !{pr.number}"),
                              "the merge request's versions")
        head = [v for v in versions if v.get("head_commit_sha") == pr.head] or versions
        times = [t for v in head if (t := parse_time(v.get("created_at"))) is not None]
        return LabelHistory(tuple(events), max(times) if times else None,
                            requests=self.requests - start)

    async def _user_id(self, user: str) -> int | None:
        if user not in self._users:
            found = await self._get(f"/users?username={quote(user)}", "the read_api scope")
            ids = [int(u["id"]) for u in found or [] if isinstance(u, dict) and "id" in u]
            self._users[user] = ids[0] if ids else None
        return self._users[user]

    async def permission(self, user: str) -> str:
        uid = await self._user_id(user)
        if uid is None:
            return "none"
        found = await self._get(f"{self.project}/members/all/{uid}", "the read_api scope")
        return ACCESS.get(int((found or {}).get("access_level") or 0), "none")

    async def member_of(self, user: str, group: str) -> bool:
        uid = await self._user_id(user)
        if uid is None:
            return False
        found = await self._get(f"/groups/{quote(group, safe='')}/members/all/{uid}",
                                "the read_api scope")
        return found is not None

    async def set_status(self, sha: str, context: str, state: str, description: str,
                         url: str | None) -> None:
        await self._request("POST", f"{self.project}/statuses/{sha}", {
            "state": STATES.get(state, state), "name": context,
            "description": description[:255], **({"target_url": url} if url else {})},
            needs="the api scope (Developer role)", missing=f"commit {sha[:12]}")

    async def open_revert(self, *, sha: str, parent_tree: str, base: str, title: str,
                          body: str, branch: str) -> tuple[int, str]:
        made = self._object(await self._request(
            "POST", f"{self.project}/merge_requests",
            {"source_branch": branch, "target_branch": base, "title": title,
             "description": body}, needs="the api scope (Developer role)",
            missing=f"project {self.repo}"), "the revert merge request")
        if "iid" not in made:
            raise ForgeError("GitLab's answer for the revert merge request has no iid")
        return int(made["iid"]), str(made.get("web_url") or "")

    async def upsert_comment(self, number: int, marker: str, body: str) -> tuple[int, bool]:
        notes = f"{self.project}/merge_requests/{number}/notes"
        return await self._upsert(
            listed=lambda page: f"{notes}?per_page=100&page={page}",
            edit=lambda nid: f"{notes}/{nid}", edit_method="PUT", create=notes, size=100,
            pages=10, marker=marker, body=body, needs="the api scope",
            missing=f"merge request !{number}", what="note")


def merge_request_of(payload: Any, branch: str) -> PullEvent | str:
    """A ``Merge Request Hook``: the merge request to plan (opened, reopened, or updated
    with new commits), or why it is ignored."""
    try:
        attrs = payload["object_attributes"]
        number, action = int(attrs["iid"]), str(attrs.get("action") or "")
        target, head = str(attrs["target_branch"]), str(attrs["last_commit"]["id"])
        source = attrs.get("source_branch")
    except (KeyError, TypeError, ValueError):
        raise InvalidPayloadError("not a GitLab merge request payload (object_attributes "
                                 "with iid, target_branch and last_commit.id)") from None
    if not SHA40.match(head) or not 0 < number < 10**9:
        raise InvalidPayloadError("object_attributes.last_commit.id must be a commit id")
    kind = {"open": "opened", "reopen": "opened", "close": "closed",
            "merge": "closed"}.get(action)
    if action == "update":  # new commits, or its labels changed (else: ignored)
        changes = payload.get("changes") if isinstance(payload.get("changes"), Mapping) else {}
        kind = "pushed" if attrs.get("oldrev") else "labels" if changes.get("labels") else None
    if kind is None:
        return f"merge request !{number} {action or 'changed'}"
    if target != branch:
        return f"merge request !{number} into {target}, not {branch}"
    source_id, target_id = attrs.get("source_project_id"), attrs.get("target_project_id")
    return PullEvent(
        number, None, head, str(source) if source else None, kind=kind, action=action,
        labels=tuple(str(lb.get("title")) for lb in payload.get("labels") or []
                     if isinstance(lb, Mapping)),
        author=str((payload.get("user") or {}).get("username") or ""),
        fork=source_id is not None and target_id is not None and source_id != target_id,
        title=str(attrs.get("title") or "")[:200])


def delivery(headers: Mapping[str, str], body: bytes, secret: bytes,
             branch: str) -> Delivery:
    token = header(headers, "X-Gitlab-Token")[1]
    check_signature(bool(token) and hmac.compare_digest(token.encode(), secret),
                    "X-Gitlab-Token")
    delivery = delivery_id(headers, "X-Gitlab-Event-UUID")
    named = header(headers, "X-Gitlab-Event")[1]
    event = EVENTS.get(named, named)
    if event not in ("push", "pull_request"):
        return Delivery(delivery, event, f"event {event or '(none)'}")
    payload = json_body(body)
    if event == "push":
        fields = payload if isinstance(payload, dict) else {}
        return Delivery(delivery, event, push_of(
            payload, str(fields.get("user_username") or "gitlab")))
    return Delivery(delivery, event, merge_request_of(payload, branch))


def client(settings: Settings) -> GitLab:
    return GitLab(*credentials(settings), settings.forge_url or "https://gitlab.com")
