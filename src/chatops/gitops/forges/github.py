"""GitHub's REST API, the few documented endpoints chatops uses.

Was this commit merged by a pull request that carried the approval label?
``GET /repos/{owner}/{repo}/commits/{sha}/pulls`` (the pull requests associated with a
commit) and ``GET /repos/{owner}/{repo}/pulls/{n}`` (for ``merged_by``). The plan
comment on a pull request: ``GET /repos/{owner}/{repo}/issues/{n}/comments`` to find
chatops's own (by a hidden marker), then ``PATCH /repos/{owner}/{repo}/issues/comments/
{id}`` to update it, or ``POST /repos/{owner}/{repo}/issues/{n}/comments`` the first time.
A revert pull request after a rollback: ``POST /git/commits``, ``POST /git/refs`` and
``POST /pulls``.
The API base is a setting, so GitHub Enterprise and tests work.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from chatops.errors import ConfigError, GitHubError

if TYPE_CHECKING:
    from chatops.settings import Settings

REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
API_VERSION = "2022-11-28"


@dataclass(frozen=True)
class PullRequest:
    number: int
    title: str
    author: str
    merged_by: str | None
    labels: tuple[str, ...]
    base: str
    merged: bool
    state: str
    url: str

    def as_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["labels"] = list(self.labels)
        return body


def approval_problem(pr: PullRequest | None, label: str, branch: str, sha: str) -> str | None:
    """Why ``sha`` may not deploy under ``label``, or None."""
    if pr is None:
        return f"no pull request merged commit {sha[:12]} into {branch}"
    if not pr.merged:
        return f"pull request #{pr.number} was closed without being merged"
    if pr.base != branch:
        return f"pull request #{pr.number} was merged into {pr.base}, not {branch}"
    if label not in pr.labels:
        have = ", ".join(pr.labels) or "none"
        return (f"pull request #{pr.number} does not carry the label {label!r} "
                f"(labels: {have})")
    return None


class GitHub:
    def __init__(self, repo: str, token: str, api: str = "https://api.github.com",
                 timeout: float = 10.0) -> None:
        if not REPO_RE.match(repo):
            raise ConfigError(f"CHATOPS_GITHUB_REPO: expected OWNER/NAME, got {repo!r}")
        self.repo = repo
        self.api = api.rstrip("/")
        self.timeout = timeout
        self._headers = {"Accept": "application/vnd.github+json",
                         "Authorization": f"Bearer {token}",
                         "X-GitHub-Api-Version": API_VERSION,
                         "User-Agent": "chatops"}

    async def _get(self, path: str) -> Any:
        return await self._request("GET", path)

    async def _request(self, method: str, path: str, body: Any = None) -> Any:
        import httpx  # noqa: PLC0415 - only hosts that enforce labels pay for it

        try:
            async with httpx.AsyncClient(timeout=self.timeout, trust_env=False) as client:
                resp = await client.request(method, f"{self.api}{path}",
                                            headers=self._headers, json=body)
        except httpx.TimeoutException:
            raise GitHubError(f"GitHub did not answer within {self.timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise GitHubError(f"GitHub cannot be reached: {type(exc).__name__}") from None
        if resp.status_code in (401, 403):
            raise GitHubError(f"GitHub refused the token ({resp.status_code}); check "
                              "CHATOPS_GITHUB_TOKEN and its access to the repository")
        if resp.status_code == 404:
            raise GitHubError(f"GitHub does not know {self.repo} or this "
                              f"{'commit' if '/commits/' in path else 'pull request'} (404)")
        if resp.status_code >= 400:
            raise GitHubError(f"GitHub answered {resp.status_code}")
        try:
            return resp.json()
        except ValueError:
            raise GitHubError("GitHub answered something that is not JSON") from None

    async def merged_pull_request(self, sha: str, branch: str) -> PullRequest | None:
        """The pull request that merged ``sha`` into ``branch`` (else the best candidate)."""
        pulls = await self._get(f"/repos/{self.repo}/commits/{sha}/pulls")
        if not isinstance(pulls, list):
            raise GitHubError("GitHub's answer for the commit's pull requests is not a list")
        candidates = [p for p in pulls if isinstance(p, dict)]
        candidates.sort(key=lambda p: (bool(p.get("merged_at")),
                                       (p.get("base") or {}).get("ref") == branch),
                        reverse=True)
        if not candidates:
            return None
        number = int(candidates[0].get("number", 0))
        detail = await self._get(f"/repos/{self.repo}/pulls/{number}")
        if not isinstance(detail, dict):
            raise GitHubError(f"GitHub's answer for pull request #{number} is not an object")
        return PullRequest(
            number=number,
            title=str(detail.get("title") or "")[:200],
            author=str((detail.get("user") or {}).get("login") or ""),
            merged_by=(detail.get("merged_by") or {}).get("login"),
            labels=tuple(str(lb.get("name")) for lb in detail.get("labels") or []
                         if isinstance(lb, dict)),
            base=str((detail.get("base") or {}).get("ref") or ""),
            merged=bool(detail.get("merged") or detail.get("merged_at")),
            state=str(detail.get("state") or ""),
            url=str(detail.get("html_url") or ""),
        )

    async def open_revert(self, *, sha: str, parent_tree: str, base: str, title: str,
                          body: str) -> tuple[int, str]:
        """A pull request that reverts ``sha`` (the head of ``base``): a commit whose tree
        is its parent's (``POST /git/commits``), a branch at it (``POST /git/refs``),
        and the pull request into ``base`` (``POST /pulls``). (Its number, its URL.)"""
        commit = await self._request("POST", f"/repos/{self.repo}/git/commits", {
            "message": f"{title}\n\n{body}", "tree": parent_tree, "parents": [sha]})
        if not isinstance(commit, dict) or not commit.get("sha"):
            raise GitHubError("GitHub's answer for the revert commit has no sha")
        branch = f"chatops/revert-{sha[:12]}"
        await self._request("POST", f"/repos/{self.repo}/git/refs",
                            {"ref": f"refs/heads/{branch}", "sha": commit["sha"]})
        made = await self._request("POST", f"/repos/{self.repo}/pulls", {
            "title": title, "head": branch, "base": base, "body": body})
        if not isinstance(made, dict) or "number" not in made:
            raise GitHubError("GitHub's answer for the revert pull request has no number")
        return int(made["number"]), str(made.get("html_url") or "")

    async def upsert_comment(self, number: int, marker: str, body: str) -> tuple[int, bool]:
        """Update the comment on pull request ``number`` that holds ``marker`` (chatops's
        own), or add one: (its id, whether it was created)."""
        for page in range(1, 11):
            found = await self._get(f"/repos/{self.repo}/issues/{number}/comments"
                                    f"?per_page=100&page={page}")
            if not isinstance(found, list):
                raise GitHubError("GitHub's answer for the comments is not a list")
            for comment in found:
                if isinstance(comment, dict) and marker in str(comment.get("body") or ""):
                    cid = int(comment["id"])
                    await self._request("PATCH", f"/repos/{self.repo}/issues/comments/{cid}",
                                        {"body": body})
                    return cid, False
            if len(found) < 100:
                break
        made = await self._request("POST", f"/repos/{self.repo}/issues/{number}/comments",
                                   {"body": body})
        if not isinstance(made, dict) or "id" not in made:
            raise GitHubError("GitHub's answer for the new comment has no id")
        return int(made["id"]), True


def client(settings: Settings) -> GitHub | None:
    """GitHub's client, when ``CHATOPS_GITHUB_REPO`` and ``CHATOPS_GITHUB_TOKEN`` are set."""
    if not settings.github_repo or settings.github_token is None:
        return None
    return GitHub(settings.github_repo, settings.github_token.get_secret_value(),
                  settings.github_api)
