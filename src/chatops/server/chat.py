"""``POST /chat/discord`` and ``POST /chat/slack``: chat commands, signed by the platform.

Each is one more adapter of the use cases: it checks the platform's signature on the raw
body (no API key: like GitHub's webhook), finds who asks (``chat.identities``), calls
``chat.commands.handle``, answers within the platform's 3 seconds (a deferred answer when
the work takes longer), and reports a run's outcome afterwards: Discord by editing the
original message through the interaction token, Slack through ``response_url``. Each
surface answers 404 while its settings are not filled in.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from chatops.application.caller import Caller
from chatops.chat.commands import Answer, handle, outcome
from chatops.chat.identities import ChatPermissions, resolve
from chatops.chat.signatures import discord_valid, slack_valid
from chatops.errors import BadSignatureError, ChatopsError, InvalidPayloadError, NotFoundError
from chatops.server import models as m
from chatops.server.context import Services, _ctx
from chatops.server.ratelimit import RateLimiter

ANSWER_WITHIN = 2.0  # seconds: the platforms allow 3, the rest is the network's
FOLLOW_TIMEOUT = 10.0
EPHEMERAL = 64  # Discord's message flag
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "the platform's answer"},
    401: {"model": m.ErrorBody}, 404: {"model": m.ErrorBody}, 413: {"model": m.ErrorBody},
    422: {"model": m.ErrorBody}, 429: {"model": m.ErrorBody}}


def register_chat(api: FastAPI, s: Services) -> None:
    surface = ChatSurface(s)

    @api.post("/chat/discord", tags=["chat"], responses=RESPONSES,
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": {"type": "object"}}}}})
    async def discord(request: Request) -> JSONResponse:
        """Discord application commands (HTTP interactions), signed with Ed25519."""
        return await surface.discord(request)

    @api.post("/chat/slack", tags=["chat"], responses=RESPONSES,
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/x-www-form-urlencoded": {"schema": {"type": "object"}}}}})
    async def slack(request: Request) -> JSONResponse:
        """Slack slash commands, signed with the app's signing secret."""
        return await surface.slack(request)


class ChatSurface:
    def __init__(self, s: Services) -> None:
        self.s = s
        self.settings = s.settings
        # Each person in chat gets the limits of an API key (CHATOPS_RATE_PER_KEY, ...).
        self.limits = RateLimiter(s.settings.rate_per_key, s.settings.burst_per_key)

    def flooded(self, request: Request, endpoint: str, who: ChatPermissions) -> Answer | None:
        """A refusal (recorded) when ``who`` sends commands faster than a key may."""
        wait = self.limits.take(who.name)
        if not wait:
            return None
        client, request_id, _ = _ctx(request)
        self.s.audit.record(client=client, method="POST", endpoint=endpoint,
                            decision="refused", status=429, request_id=request_id,
                            key_name=who.name,
                            reason=f"rate_limited: {who.name} sent too many commands")
        return Answer(f"⛔ too many commands from {who.name}; try again in "
                      f"{max(1, round(wait))} s", ephemeral=True)

    # -- helpers ----------------------------------------------------------------------

    def background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self.s.deploys.background.add(task)
        task.add_done_callback(self.s.deploys.background.discard)

    @staticmethod
    async def post(method: str, url: str, body: dict[str, Any]) -> None:
        import httpx  # noqa: PLC0415

        try:
            async with httpx.AsyncClient(timeout=FOLLOW_TIMEOUT, trust_env=False) as client:
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

    def refused(self, request: Request, endpoint: str, why: str) -> None:
        client, request_id, _ = _ctx(request)
        request.scope["state"]["audited"] = True
        self.s.audit.record(client=client, method="POST", endpoint=endpoint,
                            decision="refused", status=401, request_id=request_id,
                            key_name="(chat)", reason=f"bad_signature: {why}")

    @staticmethod
    def caller(request: Request, endpoint: str, who: ChatPermissions) -> Caller:
        client, request_id, _ = _ctx(request)
        return Caller(via="chat", permissions=who, client=client, request_id=request_id,
                      method="POST", endpoint=endpoint)

    # -- Discord ------------------------------------------------------------------------

    async def discord(self, request: Request) -> JSONResponse:
        settings = self.settings
        if not settings.discord_public_key:
            raise NotFoundError("Not Found")
        body = await request.body()
        signature = request.headers.get("x-signature-ed25519", "")
        timestamp = request.headers.get("x-signature-timestamp", "")
        if not discord_valid(settings.discord_public_key, signature, timestamp, body):
            self.refused(request, "/chat/discord", "X-Signature-Ed25519 does not match")
            raise BadSignatureError("X-Signature-Ed25519 does not match the body and "
                                    "X-Signature-Timestamp")
        try:
            interaction = json.loads(body)
            kind = int(interaction["type"])
        except (ValueError, KeyError, TypeError):
            raise InvalidPayloadError("expected a Discord interaction (JSON with a type)"
                                      ) from None
        request.scope["state"]["audited"] = True  # the use cases record their decisions
        data = interaction.get("data") or {}
        options = {str(o.get("name")): str(o.get("value", ""))
                   for o in data.get("options") or [] if isinstance(o, dict)}
        if kind == 1:  # PING
            return JSONResponse({"type": 1})
        if kind == 4:  # autocomplete: intent names
            return JSONResponse({"type": 8, "data": {"choices": _choices(self.s, data)}})
        if kind != 2:
            raise InvalidPayloadError(f"interaction type {kind} is not handled")
        member = interaction.get("member") or {}
        user = str((member.get("user") or interaction.get("user") or {}).get("id", ""))
        who = resolve(settings.chat_identities, "discord", user, member.get("roles") or [])
        app_id = settings.discord_application_id or str(interaction.get("application_id"))
        original = (f"{settings.discord_api}/webhooks/{app_id}/"
                    f"{interaction.get('token', '')}/messages/@original")

        async def edit(text: str) -> None:
            await self.post("PATCH", original, {"content": text})

        async def report(ans: Answer) -> None:
            await edit(ans.text)
            if ans.run_id:
                await _follow(self.s, ans, edit)

        ans = self.flooded(request, "/chat/discord", who) or await self.answer_in_time(
            handle(self.s.deploys, self.caller(request, "/chat/discord", who),
                   str(data.get("name")), options), report)
        if ans is None:  # deferred: "chatops is thinking", then the edit
            return JSONResponse({"type": 5})
        if ans.run_id:
            self.background(_follow(self.s, ans, edit))
        return JSONResponse({"type": 4, "data": {
            "content": ans.text, "flags": EPHEMERAL if ans.ephemeral else 0}})

    # -- Slack --------------------------------------------------------------------------

    async def slack(self, request: Request) -> JSONResponse:
        settings = self.settings
        if settings.slack_signing_secret is None:
            raise NotFoundError("Not Found")
        body = await request.body()
        why = slack_valid(settings.slack_signing_secret.get_secret_value(),
                          request.headers.get("x-slack-signature", ""),
                          request.headers.get("x-slack-request-timestamp", ""), body)
        if why is not None:
            self.refused(request, "/chat/slack", why)
            raise BadSignatureError(why)
        request.scope["state"]["audited"] = True
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        command = form.get("command", "").lstrip("/")
        who = resolve(settings.chat_identities, "slack", form.get("user_id", ""))
        response_url = form.get("response_url", "")

        async def reply(text: str, *, public: bool = True) -> None:
            if response_url.startswith(("https://", "http://")):
                await self.post("POST", response_url, {
                    "response_type": "in_channel" if public else "ephemeral", "text": text})

        async def report(ans: Answer) -> None:
            await reply(ans.text, public=not ans.ephemeral)
            if ans.run_id:
                await _follow(self.s, ans, reply)

        ans = self.flooded(request, "/chat/slack", who) or await self.answer_in_time(
            handle(self.s.deploys, self.caller(request, "/chat/slack", who), command,
                   _slack_options(command, form.get("text", "").split())), report)
        if ans is None:
            return JSONResponse({"response_type": "ephemeral", "text": "working on it…"})
        if ans.run_id:
            self.background(_follow(self.s, ans, reply))
        return JSONResponse({"response_type": "ephemeral" if ans.ephemeral else "in_channel",
                             "text": ans.text})


async def _follow(s: Services, ans: Answer, say: Callable[[str], Awaitable[None]]) -> None:
    """When the run ends, say how."""
    assert ans.run_id is not None  # noqa: S101 - only runs are followed
    record = await s.deploys.ended(ans.run_id)
    await say(f"{ans.text}\n{outcome(record)}")


def _slack_options(command: str, words: list[str]) -> dict[str, str]:
    names = {"deploy": ("intent", "sha"), "rollback": ("stack",), "status": ("stack",),
             "plan": ("intent",)}.get(command, ())
    return dict(zip(names, words, strict=False))


def _choices(s: Services, data: dict[str, Any]) -> list[dict[str, str]]:
    """Autocomplete: the intents (or, for a stack option, the stacks) matching what the
    person typed so far."""
    focused = next((o for o in data.get("options") or []
                    if isinstance(o, dict) and o.get("focused")), {})
    typed = str(focused.get("value", "")).lower()
    try:
        paths = s.deploys.ctx.repo.intent_files()
    except ChatopsError:
        return []  # no repository yet: nothing to offer
    names = sorted(p.stem for p in paths)
    if focused.get("name") == "stack":
        stacks: set[str] = set()
        for name in names:
            try:
                stacks.update(d.stack for d in s.deploys.ctx.load(name).documents)
            except ChatopsError:
                continue
        names = sorted(stacks)
    return [{"name": n, "value": n} for n in names if typed in n.lower()][:25]
