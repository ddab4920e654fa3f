"""Gitea's REST API (``/api/v1``), which Forgejo and Codeberg share: the documented
endpoints chatops uses. ``CHATOPS_FORGE_URL`` is the server's address.

The pull request that merged a commit: ``GET /repos/{o}/{r}/commits/{sha}/pull``. Who
labelled it and when its head was pushed: the issue's timeline
(``GET /repos/{o}/{r}/issues/{n}/timeline``: ``label`` entries, body ``1`` when added,
and ``pull_push`` entries, timed by the server). Permissions:
``GET /repos/{o}/{r}/collaborators/{user}/permission``, a team by
``GET /orgs/{org}/teams/search`` and ``GET /teams/{id}/members/{user}``. The plan
comment: the issue's comments. A commit status: ``POST /repos/{o}/{r}/statuses/{sha}``.
A revert pull request: ``POST /repos/{o}/{r}/pulls`` from a branch chatops pushed (the
API cannot make a commit from a tree). Webhooks: ``X-Gitea-Signature`` or
``X-Forgejo-Signature``, the HMAC-SHA256 of the body in hex.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote

from chatops.errors import ConfigError, ForgeError
from chatops.gitops.forges.base import (
    Delivery,
    ForgeAPI,
    LabelEvent,
    LabelHistory,
    PullRequest,
    check_signature,
    credentials,
    delivery_id,
    header,
    hmac_hex,
    json_body,
    parse_time,
    pull_of,
    pull_request_of,
    push_of,
)
from chatops.gitops.forges.github import REPO_RE

if TYPE_CHECKING:
    from datetime import datetime

    from chatops.settings import Settings

PULL_ACTIONS = {"opened": "opened", "reopened": "opened", "synchronized": "pushed",
                "label_updated": "labels", "label_cleared": "labels", "closed": "closed"}
PAGE = 50


def sign(secret: bytes, body: bytes) -> str:
    """As Gitea and Forgejo sign a delivery: hex, no prefix."""
    return hmac_hex(secret, body)


class Gitea(ForgeAPI):
    forge = "Gitea"
    makes_commits = False

    def __init__(self, repo: str, token: str, url: str, timeout: float = 10.0) -> None:
        if not REPO_RE.match(repo):
            raise ConfigError(f"CHATOPS_FORGE_REPO: expected OWNER/NAME, got {repo!r}")
        api = url.rstrip("/")
        super().__init__(api if api.endswith("/api/v1") else f"{api}/api/v1",
                         {"Authorization": f"token {token}"}, timeout)
        self.repo = repo
        self.repo_path = f"/repos/{repo}"

    async def merged_pull_request(self, sha: str, branch: str) -> PullRequest | None:
        found = await self._get(f"/repos/{self.repo}/commits/{sha}/pull",
                                "read access to the repository (read:repository)")
        return None if found is None else pull_request_of(
            self._object(found, "the commit's pull request"), self.repo)

    async def label_history(self, pr: PullRequest, pushed_by: datetime | None = None
                            ) -> LabelHistory:
        # The timeline has the pushes too: one request either way (``pushed_by`` unused).
        start, events, pushes = self.requests, list[LabelEvent](), []
        for entry in await self._all(
                lambda page: f"/repos/{self.repo}/issues/{pr.number}/timeline?page={page}"
                f"&limit={PAGE}", size=PAGE, pages=20, needs="read access to issues "
                "(read:issue)", missing=f"pull request #{pr.number}",
                what="the pull request's timeline"):
            kind, at = entry.get("type"), parse_time(entry.get("created_at"))
            if at is None:
                continue
            if kind == "label":
                events.append(LabelEvent(
                    str((entry.get("label") or {}).get("name") or ""),
                    str((entry.get("user") or {}).get("login") or ""),
                    str(entry.get("body") or "") == "1", at))
            elif kind == "pull_push":
                pushes.append(at)
        # No push since it was opened: the head came with the pull request.
        pushed = max(pushes) if pushes else parse_time(pr.opened_at)
        return LabelHistory(tuple(events), pushed, requests=self.requests - start)

    async def permission(self, user: str) -> str:
        found = await self._get(f"/repos/{self.repo}/collaborators/{quote(user)}/permission",
                                "read access to the repository (read:repository)")
        level = str((found or {}).get("permission") or "none")
        return "admin" if level == "owner" else level

    async def member_of(self, user: str, group: str) -> bool:
        org, _, team = group.partition("/")
        found = await self._get(f"/orgs/{quote(org)}/teams/search?q={quote(team)}",
                                "read access to the organization (read:organization)")
        ids = [t.get("id") for t in (found or {}).get("data") or []
               if isinstance(t, dict) and str(t.get("name", "")).lower() == team.lower()]
        if not ids:
            return False
        member = await self._get(f"/teams/{ids[0]}/members/{quote(user)}",
                                 "read access to the organization (read:organization)")
        return member is not None

    async def set_status(self, sha: str, context: str, state: str, description: str,
                         url: str | None) -> None:
        await self._request("POST", f"/repos/{self.repo}/statuses/{sha}", {
            "state": state, "context": context, "description": description[:140],
            **({"target_url": url} if url else {})},
            needs="write access to the repository (write:repository)",
            missing=f"commit {sha[:12]}")

    async def open_revert(self, *, sha: str, parent_tree: str, base: str, title: str,
                          body: str, branch: str) -> tuple[int, str]:
        made = self._object(await self._request(
            "POST", f"/repos/{self.repo}/pulls",
            {"title": title, "head": branch, "base": base, "body": body},
            needs="write access to the repository (write:repository)",
            missing=self.repo), "the revert pull request")
        if "number" not in made:
            raise ForgeError(f"{self.forge}'s answer for the revert pull request has no "
                             "number")
        return int(made["number"]), str(made.get("html_url") or "")

    async def upsert_comment(self, number: int, marker: str, body: str) -> tuple[int, bool]:
        issues = f"/repos/{self.repo}/issues"
        return await self._upsert(
            listed=lambda page: f"{issues}/{number}/comments?page={page}&limit={PAGE}",
            edit=lambda cid: f"{issues}/comments/{cid}", edit_method="PATCH",
            create=f"{issues}/{number}/comments", size=PAGE, pages=20, marker=marker,
            body=body, needs="write access to issues (write:issue)",
            missing=f"pull request #{number}", what="comment")


def delivery(headers: Mapping[str, str], body: bytes, secret: bytes,
             branch: str) -> Delivery:
    name, signature = header(headers, "X-Gitea-Signature", "X-Forgejo-Signature")
    check_signature(bool(signature) and hmac.compare_digest(sign(secret, body),
                                                             signature),
                    name or "X-Gitea-Signature (or X-Forgejo-Signature)")
    delivery = delivery_id(headers, "X-Gitea-Delivery", "X-Forgejo-Delivery")
    event = header(headers, "X-Gitea-Event", "X-Forgejo-Event")[1]
    if event not in ("push", "pull_request"):
        return Delivery(delivery, event, f"event {event or '(none)'}")
    payload = json_body(body)
    if event == "pull_request":
        return Delivery(delivery, event, pull_of(payload, branch, PULL_ACTIONS))
    fields = payload if isinstance(payload, dict) else {}
    who = fields.get("pusher") or fields.get("sender") or {}
    return Delivery(delivery, event, push_of(
        payload, str(who.get("login") or who.get("username") or "gitea")))


def client(settings: Settings) -> Gitea:
    if not settings.forge_url:
        raise ConfigError("CHATOPS_FORGE_URL: set the Gitea or Forgejo server's address "
                          "(e.g. https://git.example.org)")
    return Gitea(*credentials(settings), settings.forge_url)
