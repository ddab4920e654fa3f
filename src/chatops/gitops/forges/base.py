"""What every forge gives chatops, in the forge's own words turned into these: a pull
request, the history of its labels, a push or pull-request event from a webhook; and the
one HTTP client every forge's REST API is asked through (errors name the forge, the
setting and the permission the token lacks)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from msgspec import Struct, field
from msgspec.structs import asdict

from chatops.errors import (
    BadSignatureError,
    ConfigError,
    ForgeError,
    InvalidPayloadError,
    RequestError,
)
from chatops.tls import async_client

if TYPE_CHECKING:
    from chatops.settings import Settings

SHA40 = re.compile(r"^[0-9a-f]{40}$")


class PullRequest(Struct, frozen=True):
    number: int
    title: str
    author: str
    merged_by: str | None
    labels: tuple[str, ...]
    base: str
    merged: bool
    state: str
    url: str
    head: str = ""  # the head commit the pull request was merged with
    head_ref: str = ""  # its branch
    head_repo: str = ""  # OWNER/NAME of the head branch (a fork's, when it differs)
    opened_at: str = ""  # ISO time, the forge's clock

    def as_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["labels"] = list(self.labels)
        return body

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PullRequest:
        known = {k: v for k, v in data.items() if k in cls.__struct_fields__}
        return cls(**{**known, "labels": tuple(known.get("labels") or ())})


def pull_request_of(found: Mapping[str, Any], repo: str) -> PullRequest:
    """A pull request as GitHub, Gitea and Forgejo describe one (``repo``: the head's
    repository when the answer does not name it)."""
    head = found.get("head") or {}
    return PullRequest(
        number=int(found.get("number") or 0),
        title=str(found.get("title") or "")[:200],
        author=str((found.get("user") or {}).get("login") or ""),
        merged_by=(found.get("merged_by") or {}).get("login"),
        labels=tuple(str(lb.get("name")) for lb in found.get("labels") or []
                     if isinstance(lb, dict)),
        base=str((found.get("base") or {}).get("ref") or ""),
        merged=bool(found.get("merged") or found.get("merged_at")),
        state=str(found.get("state") or ""), url=str(found.get("html_url") or ""),
        head=str(head.get("sha") or ""), head_ref=str(head.get("ref") or ""),
        head_repo=str((head.get("repo") or {}).get("full_name") or repo),
        opened_at=str(found.get("created_at") or ""))


class LabelEvent(Struct, frozen=True):
    label: str
    actor: str
    added: bool  # False: removed
    at: datetime


class LabelHistory(Struct, frozen=True):
    """A pull request's labels as the forge recorded them, and when its head was last
    pushed (the forge's clock, never a commit's own date: a pusher writes that)."""

    events: tuple[LabelEvent, ...]
    pushed_at: datetime | None
    requests: int = 0  # how many forge requests it took
    #: Whether ``pushed_at`` is the forge's word (False: the bound chatops gave,
    #: ``label_history(pushed_by=...)``, from seeing the head itself).
    from_forge: bool = True


class PushEvent(Struct, frozen=True):
    ref: str
    before: str
    after: str
    actor: str
    forced: bool = False


class PullEvent(Struct, frozen=True):
    """A pull request opened or pushed to: plan it. ``base`` is None when the forge does
    not say (the deploy branch's head is used)."""

    number: int
    base: str | None
    head: str
    branch: str | None
    #: What happened, as chatops reads it: ``opened`` (or reopened), ``pushed``,
    #: ``labels`` (a label added or removed), ``closed`` (or merged).
    kind: str = "opened"
    action: str = "opened"  # the forge's own word for it
    labels: tuple[str, ...] = ()
    author: str = ""
    fork: bool = False  # the head branch is in another repository
    title: str = ""

    @property
    def planned(self) -> bool:
        """Whether the plan comment is (re)written for it: its commits changed."""
        return self.kind in ("opened", "pushed")


class Delivery(Struct, frozen=True):
    """A webhook delivery the forge signed: its id (replays are refused by it), its event
    as chatops reads it, and what it asks for (or why it is ignored)."""

    id: str
    event: str
    what: PushEvent | PullEvent | str = field(default="")


class Forge(Protocol):
    forge: str  # its name, in messages
    #: Whether ``open_revert`` makes the revert commit itself (else chatops pushes it).
    makes_commits: bool

    async def merged_pull_request(self, sha: str, branch: str) -> PullRequest | None:
        """The pull request that merged ``sha`` into ``branch``, or None."""

    async def label_history(self, pr: PullRequest, pushed_by: datetime | None = None
                            ) -> LabelHistory:
        """Who added and removed which label when, and when the head was last pushed.
        ``pushed_by``: a time the head was surely pushed by (chatops saw it); a forge
        that needs a request of its own for the push time takes that instead."""

    async def permission(self, user: str) -> str:
        """``user``'s permission on the repository, one of ``LEVELS``."""

    async def member_of(self, user: str, group: str) -> bool:
        """Whether ``user`` belongs to ``group`` (a team ``ORG/TEAM``, a GitLab group)."""

    async def reachable(self) -> datetime | None:
        """The repository read with the token; the forge's clock when it said it."""

    async def upsert_comment(self, number: int, marker: str, body: str) -> tuple[int, bool]:
        """Create or update chatops's comment (found by ``marker``); (its id, created)."""

    async def set_status(self, sha: str, context: str, state: str, description: str,
                         url: str | None) -> None:
        """A commit status: ``state`` is pending, success or failure."""

    async def open_revert(self, *, sha: str, parent_tree: str, base: str, title: str,
                          body: str, branch: str) -> tuple[int, str]:
        """A pull request into ``base`` reverting its head ``sha``; (number, URL).
        ``branch`` holds the revert commit already pushed, where the forge cannot
        make the commit itself."""


def credentials(settings: Settings) -> tuple[str, str]:
    """(repository, token) of the settings; ``forge_of`` builds a client only with both."""
    if not settings.forge_repo or settings.forge_token is None:
        raise ConfigError("set CHATOPS_FORGE_REPO and CHATOPS_FORGE_TOKEN")
    return settings.forge_repo, settings.forge_token.get_secret_value()


def hmac_hex(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class ForgeAPI:
    """A forge's REST API: JSON in and out, a bearer token, one error type whose message
    names the forge, the setting to fix and the permission the token needs."""

    forge = "the forge"
    error: type[ForgeError] = ForgeError

    def __init__(self, api: str, headers: dict[str, str], timeout: float = 10.0) -> None:
        self.api = api.rstrip("/")
        self.timeout = timeout
        self._headers = {"Accept": "application/json", "User-Agent": "chatops", **headers}
        self.requests = 0  # asked so far (tests count them)
        self.repo_path = ""  # the repository's own endpoint (``reachable`` asks it)
        self.last_date: datetime | None = None  # the forge's clock, at its last answer

    async def _get(self, path: str, needs: str = "read access to the repository",
                   missing: str | None = None) -> Any:
        return await self._request("GET", path, needs=needs, missing=missing)

    async def _request(self, method: str, path: str, body: Any = None, *,
                       needs: str = "read access to the repository",
                       missing: str | None = None) -> Any:
        """The JSON answer. A 404 is None when ``missing`` is None, else the error that
        names what is ``missing``."""
        import httpx  # noqa: PLC0415 - only hosts that ask a forge pay for it

        self.requests += 1
        try:
            async with async_client(timeout=self.timeout) as client:
                resp = await client.request(method, f"{self.api}{path}",
                                            headers=self._headers, json=body)
        except httpx.TimeoutException:
            raise self.error(f"{self.forge} did not answer within {self.timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise self.error(f"{self.forge} cannot be reached: {type(exc).__name__}") from None
        from email.utils import parsedate_to_datetime  # noqa: PLC0415

        with contextlib.suppress(TypeError, ValueError, IndexError):
            self.last_date = parsedate_to_datetime(resp.headers.get("date", ""))
        if resp.status_code in (401, 403):
            where = path.split("?", maxsplit=1)[0]
            raise self.error(f"{self.forge} refused the token ({resp.status_code}) for "
                             f"{method} {where}: CHATOPS_FORGE_TOKEN needs {needs}")
        if resp.status_code == 404:
            if missing is None:
                return None
            raise self.error(f"{self.forge} does not know {missing} (404)")
        if resp.status_code >= 400:
            raise self.error(f"{self.forge} answered {resp.status_code} to {method} "
                             f"{path.split('?', maxsplit=1)[0]}")
        if resp.status_code == 204 or not resp.content:
            return {}
        try:
            return resp.json()
        except ValueError:
            raise self.error(f"{self.forge} answered something that is not JSON") from None

    async def reachable(self) -> datetime | None:
        """Whether the repository can be read with the token (the error says why not);
        the forge's clock (its ``Date`` header) when it sent one."""
        await self._request("GET", self.repo_path, needs="read access to the repository",
                            missing=f"the repository {self.repo_path}")
        return self.last_date

    async def _pages(self, path: Callable[[int], str], *, size: int, pages: int,
                     needs: str, missing: str, what: str
                     ) -> AsyncIterator[list[dict[str, Any]]]:
        """Each page of a paged list (``path`` of each page number), up to ``pages``; a
        page asked only when the one before was full and the caller reads on."""
        for page in range(1, pages + 1):
            found = self._list(await self._get(path(page), needs, missing=missing), what)
            yield found
            if len(found) < size:
                return

    async def _all(self, path: Callable[[int], str], *, size: int, pages: int, needs: str,
                   missing: str, what: str) -> list[dict[str, Any]]:
        """Every item of a paged list (``_pages``)."""
        return [item async for found in self._pages(path, size=size, pages=pages,
                                                     needs=needs, missing=missing, what=what)
                for item in found]

    async def _upsert(self, *, listed: Callable[[int], str], edit: Callable[[int], str],
                      edit_method: str, create: str, size: int, pages: int, marker: str,
                      body: str, needs: str, missing: str, what: str) -> tuple[int, bool]:
        """Update chatops's own comment (``what``: a comment, GitLab's note), found by
        ``marker`` among those ``listed``, or add one: (its id, whether it was created)."""
        async for found in self._pages(listed, size=size, pages=pages, needs=needs,
                                       missing=missing, what=f"the {what}s"):
            mine = next((i for i in found if marker in str(i.get("body") or "")), None)
            if mine is not None:
                cid = int(mine["id"])
                await self._request(edit_method, edit(cid), {"body": body}, needs=needs,
                                    missing=f"the {what}")
                return cid, False
        made = self._object(await self._request("POST", create, {"body": body}, needs=needs,
                                                missing=missing), f"the new {what}")
        if "id" not in made:
            raise self.error(f"{self.forge}'s answer for the new {what} has no id")
        return int(made["id"]), True

    def _object(self, found: Any, what: str) -> dict[str, Any]:
        if not isinstance(found, dict):
            raise self.error(f"{self.forge}'s answer for {what} is not an object")
        return found

    def _list(self, found: Any, what: str) -> list[dict[str, Any]]:
        if not isinstance(found, list):
            raise self.error(f"{self.forge}'s answer for {what} is not a list")
        return [item for item in found if isinstance(item, dict)]


def header(headers: Mapping[str, str], *names: str) -> tuple[str, str]:
    """(the first of ``names`` present, its value) or ("", "")."""
    for name in names:
        value = headers.get(name.lower())
        if value is not None:
            return name, value
    return "", ""


def delivery_id(headers: Mapping[str, str], *names: str) -> str:
    value = header(headers, *names)[1]
    if not value or len(value) > 100:
        raise RequestError(f"{names[0]} is missing or longer than 100 characters",
                           field=names[0])
    return value


def push_of(payload: Any, actor: str, forced: bool = False) -> PushEvent:
    """A push payload's ref, before and after (GitHub, Gitea, Forgejo and GitLab name them
    alike); ``InvalidPayloadError`` when they are missing or not commit ids."""
    if isinstance(payload, dict):
        ref, before, after = payload.get("ref"), payload.get("before"), payload.get("after")
        if isinstance(ref, str) and isinstance(before, str) and isinstance(after, str) \
                and SHA40.match(before) and SHA40.match(after):
            return PushEvent(ref, before, after, actor[:100] or "unknown", forced)
    raise InvalidPayloadError("not a push payload (ref, and before and after as commit ids, "
                              "are needed)")


def pull_of(payload: Any, branch: str, kinds: Mapping[str, str]) -> PullEvent | str:
    """A GitHub-shaped ``pull_request`` payload (GitHub, Gitea, Forgejo): the pull request
    and what happened to it (``kinds``: the forge's action to chatops's word), or why the
    event is ignored."""
    try:
        action = str(payload["action"])
        pr = payload["pull_request"]
        number = int(payload.get("number") or pr["number"])
        base, head = pr["base"], pr["head"]
        base_sha, head_sha = str(base["sha"]), str(head["sha"])
        base_ref, head_ref = str(base["ref"]), head.get("ref")
    except (KeyError, TypeError, ValueError):
        raise InvalidPayloadError("not a pull_request payload (action, number, "
                                  "pull_request.base and .head with sha and ref)") from None
    if not SHA40.match(base_sha) or not SHA40.match(head_sha) or not 0 < number < 10**9:
        raise InvalidPayloadError("pull_request.base.sha and .head.sha must be commit ids")
    if action not in kinds:
        return f"pull request #{number} {action}"
    if base_ref != branch:
        return f"pull request #{number} into {base_ref}, not {branch}"
    repos = [str((side.get("repo") or {}).get("full_name") or "")
             for side in (base, head) if isinstance(side, Mapping)]
    return PullEvent(
        number, base_sha, head_sha, str(head_ref) if head_ref else None, kind=kinds[action],
        action=action, labels=tuple(str(lb.get("name")) for lb in pr.get("labels") or []
                                    if isinstance(lb, Mapping)),
        author=str((pr.get("user") or {}).get("login") or ""),
        fork=len(repos) == 2 and all(repos) and repos[0] != repos[1],
        title=str(pr.get("title") or "")[:200])


def json_body(raw: bytes) -> Any:
    import json  # noqa: PLC0415

    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def check_signature(ok: bool, name: str) -> None:
    if not ok:
        raise BadSignatureError(f"{name} is missing or does not match the body signed with "
                                "the webhook secret")
