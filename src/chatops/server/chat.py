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

from chatops.application.approvals import Vote
from chatops.application.caller import Caller
from chatops.chat.commands import LIMIT, Answer, handle, outcome
from chatops.chat.identities import ChatPermissions, SlackDirectory, resolve
from chatops.chat.signatures import SKEW, discord_valid, slack_valid, stale
from chatops.errors import (
    BadSignatureError,
    ChatopsError,
    InvalidPayloadError,
    NotFoundError,
    ReplayedChatRequestError,
)
from chatops.notify.approvals import parse_button
from chatops.server import models as m
from chatops.server.context import Services, _ctx
from chatops.server.ratelimit import RateLimiter
from chatops.store.records import RunStatus

ANSWER_WITHIN = 2.0  # seconds: the platforms allow 3, the rest is the network's
FOLLOW_TIMEOUT = 10.0
EPHEMERAL = 64  # Discord's message flag
TALLY = "\n—\n"  # between an approval's question and its tally
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
        token = s.settings.slack_bot_token
        self.directory = SlackDirectory(s.settings.slack_api,
                                        token.get_secret_value() if token else None)

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

    def refused(self, request: Request, endpoint: str, err: ChatopsError) -> ChatopsError:
        """``err``, recorded once in the audit trail (its answer is not recorded again)."""
        client, request_id, _ = _ctx(request)
        request.scope["state"]["audited"] = True
        self.s.audit.record(client=client, method="POST", endpoint=endpoint,
                            decision="refused", status=err.status, request_id=request_id,
                            key_name="(chat)", reason=f"{err.code}: {err.message}")
        err.audited = True
        return err

    def once(self, request: Request, endpoint: str, key: str) -> None:
        """Refuse (401, audited) a signed request seen before within the window."""
        if not self.s.deploys.store.first_chat_request(key, SKEW):
            raise self.refused(request, endpoint, ReplayedChatRequestError(
                "this signed request was received before (a replay)"))

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
            raise self.refused(request, "/chat/discord", BadSignatureError(
                "X-Signature-Ed25519 does not match the body and X-Signature-Timestamp"))
        why = stale(timestamp, "X-Signature-Timestamp")
        if why is not None:
            raise self.refused(request, "/chat/discord", BadSignatureError(why))
        try:
            interaction = json.loads(body)
            kind = int(interaction["type"])
        except (ValueError, KeyError, TypeError):
            raise InvalidPayloadError("expected a Discord interaction (JSON with a type)"
                                      ) from None
        # Discord gives every interaction an id of its own; the signed id is the request.
        self.once(request, "/chat/discord", f"discord:{interaction.get('id') or signature}")
        request.scope["state"]["audited"] = True  # the use cases record their decisions
        data = interaction.get("data") or {}
        options = {str(o.get("name")): str(o.get("value", ""))
                   for o in data.get("options") or [] if isinstance(o, dict)}
        if kind == 1:  # PING
            return JSONResponse({"type": 1})
        if kind == 4:  # autocomplete: intent names
            return JSONResponse({"type": 8, "data": {"choices": _choices(self.s, data)}})
        if kind not in (2, 3):
            raise InvalidPayloadError(f"interaction type {kind} is not handled")
        member = interaction.get("member") or {}
        user = str((member.get("user") or interaction.get("user") or {}).get("id", ""))
        who = resolve(settings.chat_identities, "discord", user, member.get("roles") or [])
        if kind == 3:  # a button: Approve or Deny
            return await self.discord_button(request, who, interaction)
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

    async def discord_button(self, request: Request, who: ChatPermissions,
                             interaction: dict[str, Any]) -> JSONResponse:
        """An approver's click: the message is updated with the tally (its buttons gone
        once the run is decided); a refusal is answered to the clicker alone."""
        custom = str((interaction.get("data") or {}).get("custom_id", ""))
        ans = await self.verdict(request, "/chat/discord", who, custom)
        if isinstance(ans, Answer):
            return JSONResponse({"type": 4, "data": {"content": ans.text[:LIMIT],
                                                     "flags": EPHEMERAL}})
        message = interaction.get("message") or {}
        question = str(message.get("content", "")).split(TALLY)[0].rstrip()
        decided = ans.record.status is not RunStatus.awaiting_approval
        return JSONResponse({"type": 7, "data": {
            "content": f"{question}{TALLY}{ans.text()}"[-LIMIT:],
            "components": [] if decided else message.get("components") or []}})

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
            return await self.s.deploys.approve(self.caller(request, endpoint, who), run_id,
                                                verdict, sha)
        except ChatopsError as exc:
            return Answer(f"⛔ {exc.message}"[:LIMIT], ephemeral=True)

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
            raise self.refused(request, "/chat/slack", BadSignatureError(why))
        # Slack has no request id: its signature (over the timestamp and body) is one.
        self.once(request, "/chat/slack",
                  "slack:" + request.headers.get("x-slack-signature", "")[:200])
        request.scope["state"]["audited"] = True
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if "payload" in form:  # interactivity: a button of an approval message
            return await self.slack_button(request, form["payload"])
        command = form.get("command", "").lstrip("/")
        user = form.get("user_id", "")
        who = resolve(settings.chat_identities, "slack", user,
                      await self.directory.groups(user))
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


    async def slack_button(self, request: Request, raw: str) -> JSONResponse:
        """Slack's ``block_actions``: the word goes through the approval use case; the
        message is replaced with the tally through ``response_url`` (Slack ignores the
        body of this answer), a refusal is shown to the clicker alone."""
        try:
            payload = json.loads(raw)
            user = str(payload["user"]["id"])
            action = payload["actions"][0]
            button = str(action["value"])
        except (ValueError, KeyError, TypeError, IndexError):
            raise InvalidPayloadError("expected Slack block_actions (JSON in payload, with "
                                      "user.id and actions[0].value)") from None
        who = resolve(self.settings.chat_identities, "slack", user,
                      await self.directory.groups(user))
        ans = await self.verdict(request, "/chat/slack", who, button)
        url = str(payload.get("response_url", ""))
        if isinstance(ans, Answer):
            reply = {"response_type": "ephemeral", "replace_original": False,
                     "text": ans.text}
        else:
            question = str((payload.get("message") or {}).get("text", "")).split(TALLY)[0]
            reply = {"replace_original": True, "text": f"{question.rstrip()}{TALLY}"
                     f"{ans.text()}"}
            if ans.record.status is RunStatus.awaiting_approval:
                reply["blocks"] = [*(payload.get("message") or {}).get("blocks", [])[:1],
                                   {"type": "section", "text": {"type": "mrkdwn",
                                                                "text": ans.text()}},
                                   *(payload.get("message") or {}).get("blocks", [])[1:2]]
        if url.startswith(("https://", "http://")):
            self.background(self.post("POST", url, reply))
        return JSONResponse({})


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
