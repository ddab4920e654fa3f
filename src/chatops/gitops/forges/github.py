"""GitHub's REST API (and GitHub Enterprise's: the API base is ``CHATOPS_FORGE_URL``),
the few documented endpoints chatops uses.

The pull request that merged a commit: ``GET /repos/{o}/{r}/commits/{sha}/pulls`` then
``GET /repos/{o}/{r}/pulls/{n}``. Who labelled it: ``GET /repos/{o}/{r}/issues/{n}/events``
(``labeled``, ``unlabeled``, with actor and time), and when its head was pushed: the
repository's activity (``GET /repos/{o}/{r}/activity?ref=...&activity_type=push``, the
push's own time, not the commit's date its author wrote). Permissions:
``GET /repos/{o}/{r}/collaborators/{user}/permission`` and
``GET /orgs/{org}/teams/{team}/memberships/{user}``. The plan comment: the issue's comments
(found by a hidden marker, then ``PATCH``ed, or ``POST``ed the first time). A commit
status: ``POST /repos/{o}/{r}/statuses/{sha}``. A revert pull request: ``POST
/git/commits``, ``POST /git/refs`` and ``POST /pulls``. Webhooks are signed with
``X-Hub-Signature-256`` (HMAC-SHA256 of the body, ``sha256=`` and hex).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote

from chatops.errors import ConfigError, ForcePushRefusedError, GitHubError
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

if TYPE_CHECKING:
    from datetime import datetime

    from chatops.settings import Settings

REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
API_VERSION = "2022-11-28"
PULL_ACTIONS = {"opened": "opened", "reopened": "opened", "synchronize": "pushed",
                "labeled": "labels", "unlabeled": "labels", "closed": "closed"}


def sign(secret: bytes, body: bytes) -> str:
    """As GitHub signs a delivery (tests and tooling use it)."""
    return "sha256=" + hmac_hex(secret, body)


class GitHub(ForgeAPI):
    forge = "GitHub"
    makes_commits = True  # the revert commit, by the Git data API
    error = GitHubError

    def __init__(self, repo: str, token: str, api: str = "https://api.github.com",
                 timeout: float = 10.0) -> None:
        if not REPO_RE.match(repo):
            raise ConfigError(f"CHATOPS_FORGE_REPO: expected OWNER/NAME, got {repo!r}")
        super().__init__(api, {"Accept": "application/vnd.github+json",
                               "Authorization": f"Bearer {token}",
                               "X-GitHub-Api-Version": API_VERSION}, timeout)
        self.repo = repo
        self.repo_path = f"/repos/{repo}"

    async def merged_pull_request(self, sha: str, branch: str) -> PullRequest | None:
        """The pull request that merged ``sha`` into ``branch`` (else the best candidate)."""
        pulls = self._list(await self._get(
            f"/repos/{self.repo}/commits/{sha}/pulls", "read access to pull requests",
            missing=f"{self.repo} or commit {sha[:12]}"), "the commit's pull requests")
        pulls.sort(key=lambda p: (bool(p.get("merged_at")),
                                  (p.get("base") or {}).get("ref") == branch), reverse=True)
        if not pulls:
            return None
        number = int(pulls[0].get("number", 0))
        detail = self._object(await self._get(
            f"/repos/{self.repo}/pulls/{number}", "read access to pull requests",
            missing=f"pull request #{number}"), f"pull request #{number}")
        return pull_request_of({**detail, "number": number}, self.repo)

    async def label_history(self, pr: PullRequest, pushed_by: datetime | None = None
                            ) -> LabelHistory:
        start, events = self.requests, list[LabelEvent]()
        for event in await self._all(
                lambda page: f"/repos/{self.repo}/issues/{pr.number}/events?per_page=100"
                f"&page={page}", size=100, pages=10,
                needs="read access to issues and pull requests",
                missing=f"pull request #{pr.number}", what="the pull request's events"):
            kind, at = event.get("event"), parse_time(event.get("created_at"))
            if kind in ("labeled", "unlabeled") and at is not None:
                events.append(LabelEvent(
                    str((event.get("label") or {}).get("name") or ""),
                    str((event.get("actor") or {}).get("login") or ""),
                    kind == "labeled", at))
        pushed = pushed_by
        if pr.head_ref and pushed_by is None:
            activity = self._list(await self._get(
                f"/repos/{pr.head_repo or self.repo}/activity?ref="
                f"{quote('refs/heads/' + pr.head_ref, safe='')}&activity_type=push"
                "&per_page=100", "read access to the repository's contents",
                missing=f"the activity of {pr.head_repo or self.repo}"),
                "the branch's activity")
            times = [t for a in activity if a.get("after") == pr.head
                     if (t := parse_time(a.get("timestamp"))) is not None]
            pushed = max(times) if times else None
        return LabelHistory(tuple(events), pushed, requests=self.requests - start,
                            from_forge=pushed_by is None)

    async def permission(self, user: str) -> str:
        found = await self._get(f"/repos/{self.repo}/collaborators/{quote(user)}/permission",
                                "read access to the repository's collaborators (metadata)")
        if not isinstance(found, dict):
            return "none"
        role = str(found.get("role_name") or "")
        return role if role in ("admin", "maintain", "write", "triage", "read") else \
            str(found.get("permission") or "none")

    async def member_of(self, user: str, group: str) -> bool:
        org, _, team = group.partition("/")
        found = await self._get(f"/orgs/{quote(org)}/teams/{quote(team)}/memberships/"
                                f"{quote(user)}", "read access to the organization's members")
        return isinstance(found, dict) and found.get("state") == "active"

    async def set_status(self, sha: str, context: str, state: str, description: str,
                         url: str | None) -> None:
        await self._request("POST", f"/repos/{self.repo}/statuses/{sha}", {
            "state": state, "context": context, "description": description[:140],
            **({"target_url": url} if url else {})}, needs="write access to commit statuses",
            missing=f"commit {sha[:12]}")

    async def open_revert(self, *, sha: str, parent_tree: str, base: str, title: str,
                          body: str, branch: str) -> tuple[int, str]:
        """A commit whose tree is its parent's (``POST /git/commits``), a branch at it
        (``POST /git/refs``), and the pull request into ``base`` (``POST /pulls``)."""
        needs = "write access to contents and pull requests"
        commit = self._object(await self._request(
            "POST", f"/repos/{self.repo}/git/commits",
            {"message": f"{title}\n\n{body}", "tree": parent_tree, "parents": [sha]},
            needs=needs, missing=self.repo), "the revert commit")
        if not commit.get("sha"):
            raise GitHubError("GitHub's answer for the revert commit has no sha")
        await self._request("POST", f"/repos/{self.repo}/git/refs",
                            {"ref": f"refs/heads/{branch}", "sha": commit["sha"]},
                            needs=needs, missing=self.repo)
        made = self._object(await self._request(
            "POST", f"/repos/{self.repo}/pulls",
            {"title": title, "head": branch, "base": base, "body": body},
            needs=needs, missing=self.repo), "the revert pull request")
        if "number" not in made:
            raise GitHubError("GitHub's answer for the revert pull request has no number")
        return int(made["number"]), str(made.get("html_url") or "")

    async def upsert_comment(self, number: int, marker: str, body: str) -> tuple[int, bool]:
        """Update the comment on pull request ``number`` that holds ``marker`` (chatops's
        own), or add one: (its id, whether it was created)."""
        issues = f"/repos/{self.repo}/issues"
        return await self._upsert(
            listed=lambda page: f"{issues}/{number}/comments?per_page=100&page={page}",
            edit=lambda cid: f"{issues}/comments/{cid}", edit_method="PATCH",
            create=f"{issues}/{number}/comments", size=100, pages=10, marker=marker,
            body=body, needs="write access to issues and pull requests",
            missing=f"pull request #{number}", what="comment")


def delivery(headers: Mapping[str, str], body: bytes, secret: bytes,
             branch: str) -> Delivery:
    _, signature = header(headers, "X-Hub-Signature-256")
    check_signature(hmac.compare_digest(sign(secret, body), signature),
                    "X-Hub-Signature-256")
    delivery = delivery_id(headers, "X-GitHub-Delivery")
    event = header(headers, "X-GitHub-Event")[1]
    if event not in ("push", "pull_request"):
        return Delivery(delivery, event, f"event {event or '(none)'}")
    payload = json_body(body)
    if event == "pull_request":
        return Delivery(delivery, event, pull_of(payload, branch, PULL_ACTIONS))
    fields = payload if isinstance(payload, dict) else {}
    push = push_of(payload, str((fields.get("sender") or {}).get("login") or "github"),
                   bool(fields.get("forced")))
    if push.forced and push.ref == f"refs/heads/{branch}":
        raise ForcePushRefusedError(f"a force-push to {branch} rewrote history; deploy "
                                    "a commit explicitly if that was intended")
    return Delivery(delivery, event, push)


def client(settings: Settings) -> GitHub:
    return GitHub(*credentials(settings), settings.forge_url or "https://api.github.com")
