"""What every chat platform's surface shares: the audit of refusals, replays refused,
the rate limit per person, answers within the platform's deadline (later ones as
follow-ups), and the run's outcome said when it ends.

A platform (``chat.platforms``) is a subclass that reads its own signed requests and
answers in its own shape; everything it decides goes through the same use cases as the
HTTP API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from fastapi import Request
from fastapi.responses import JSONResponse

from chatops.application.approvals import Vote
from chatops.application.caller import Caller, request_facts
from chatops.chat.commands import LIMIT, Answer, outcome
from chatops.chat.identities import ChatPermissions
from chatops.chat.signatures import SKEW
from chatops.errors import ChatopsError, ReplayedChatRequestError
from chatops.notify.approvals import Announcer, Bot, parse_button
from chatops.ratelimit import RateLimiter
from chatops.tls import async_client

if TYPE_CHECKING:
    from chatops.application.deploys import Deploys
    from chatops.settings import Settings
    from chatops.store.audit import AuditLog

ANSWER_WITHIN = 2.0  # seconds: the platforms allow 3, the rest is the network's
FOLLOW_TIMEOUT = 10.0
TALLY = "\n—\n"  # between an approval's question and its tally


class ChatSurface:
    """One platform's ``POST /chat/{name}``."""

    name: ClassVar[str]
    summary: ClassVar[str]  # one line for the docs' registry table (docs/layout.md)
    #: Its requests' media type, for the OpenAPI document. (The identities a grant may
    #: name, ``name:user:ID`` and its groups, are in ``identities.IDENTITY_KINDS``.)
    content_type: ClassVar[str] = "application/json"
    bot: ClassVar[type[Bot]]  # asks for approvals with buttons

    def __init__(self, settings: Settings, deploys: Deploys, audit: AuditLog) -> None:
        self.settings, self.deploys, self.audit = settings, deploys, audit
        # Each person in chat gets the limits of an API key (CHATOPS_RATE_PER_KEY, ...).
        self.limits = RateLimiter(settings.rate_per_key, settings.burst_per_key)

    @property
    def endpoint(self) -> str:
        return f"/chat/{self.name}"

    @classmethod
    def announcer(cls, settings: Settings) -> Announcer | None:
        """Its bot that asks for approvals with buttons, where its settings
        ``<name>_bot_token`` and ``<name>_approval_channel`` are set (``<name>_api``: the
        platform's API)."""
        token = getattr(settings, f"{cls.name}_bot_token", None)
        channel = getattr(settings, f"{cls.name}_approval_channel", None)
        if token is None or not channel:
            return None
        return cls.bot(getattr(settings, f"{cls.name}_api"), token.get_secret_value(),
                       channel)

    async def handle(self, request: Request) -> JSONResponse:
        raise NotImplementedError

    def flooded(self, request: Request, endpoint: str, who: ChatPermissions) -> Answer | None:
        """A refusal (recorded) when ``who`` sends commands faster than a key may."""
        wait = self.limits.take(who.name)
        if not wait:
            return None
        client, request_id = request_facts(request.scope)
        self.audit.record(client=client, method="POST", endpoint=endpoint,
                            decision="refused", status=429, request_id=request_id,
                            key_name=who.name,
                            reason=f"rate_limited: {who.name} sent too many commands")
        return Answer(f"⛔ too many commands from {who.name}; try again in "
                      f"{max(1, round(wait))} s", ephemeral=True)

    # -- helpers ----------------------------------------------------------------------

    def background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self.deploys.background.add(task)
        task.add_done_callback(self.deploys.background.discard)

    @staticmethod
    async def post(method: str, url: str, body: dict[str, Any]) -> None:
        import httpx  # noqa: PLC0415

        try:
            async with async_client(timeout=FOLLOW_TIMEOUT) as client:
                await client.request(method, url, json=body)
        except httpx.HTTPError:
            return  # the chat message stays as it was; the run history has the outcome

    async def answer_in_time(self, work: Awaitable[Answer],
                             late: Callable[[Answer], Awaitable[None]]) -> Answer | None:
        """The answer if it comes within ``ANSWER_WITHIN``; else None, and ``late`` gets
        it when it comes."""
        task = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({task}, timeout=ANSWER_WITHIN)
        if done:
            return task.result()

        async def later() -> None:
            await late(await task)

        self.background(later())
        return None

    def refused(self, request: Request, endpoint: str, err: ChatopsError) -> ChatopsError:
        """``err``, recorded once in the audit trail (its answer is not recorded again)."""
        client, request_id = request_facts(request.scope)
        request.scope["state"]["audited"] = True
        self.audit.record(client=client, method="POST", endpoint=endpoint,
                            decision="refused", status=err.status, request_id=request_id,
                            key_name="(chat)", reason=f"{err.code}: {err.message}")
        err.audited = True
        return err

    def once(self, request: Request, endpoint: str, key: str) -> None:
        """Refuse (401, audited) a signed request seen before within the window."""
        if not self.deploys.store.first_chat_request(key, SKEW):
            raise self.refused(request, endpoint, ReplayedChatRequestError(
                "this signed request was received before (a replay)"))

    @staticmethod
    def caller(request: Request, endpoint: str, who: ChatPermissions) -> Caller:
        client, request_id = request_facts(request.scope)
        return Caller(via="chat", permissions=who, client=client, request_id=request_id,
                      method="POST", endpoint=endpoint)

    async def verdict(self, request: Request, endpoint: str, who: ChatPermissions,
                      button: str) -> Answer | Vote:
        """A click's word, through the one approval use case; a refusal is an Answer."""
        parsed = parse_button(button)
        if parsed is None:
            return Answer(f"⛔ unknown button {button[:40]!r}", ephemeral=True)
        flood = self.flooded(request, endpoint, who)
        if flood is not None:
            return flood
        verdict, run_id, sha = parsed
        try:
            return await self.deploys.approve(self.caller(request, endpoint, who), run_id,
                                              verdict, sha)
        except ChatopsError as exc:
            return Answer(f"⛔ {exc.message}"[:LIMIT], ephemeral=True)



async def follow(deploys: Deploys, ans: Answer, say: Callable[[str], Awaitable[None]]
                 ) -> None:
    """When the run ends, say how."""
    assert ans.run_id is not None  # noqa: S101 - only runs are followed
    record = await deploys.ended(ans.run_id)
    await say(f"{ans.text}\n{outcome(record)}")
