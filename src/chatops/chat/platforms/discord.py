"""Discord: application commands over HTTP interactions, signed with Ed25519
(``POST /chat/discord``), and the bot that asks for approvals with buttons
(``POST /channels/{id}/messages``, ``Authorization: Bot …``).

A command is answered within Discord's 3 seconds (a deferred answer when the work takes
longer), and the run's outcome is said afterwards by editing the original message
through the interaction token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse

from chatops.chat.commands import LIMIT, Answer, handle
from chatops.chat.identities import ChatPermissions, resolve
from chatops.chat.platforms import register
from chatops.chat.signatures import discord_valid, stale
from chatops.chat.surface import TALLY, ChatSurface, follow
from chatops.errors import BadSignatureError, ChatopsError, InvalidPayloadError, NotFoundError
from chatops.notify.approvals import ApprovalNotice, Bot, button_id
from chatops.store.records import RunStatus

if TYPE_CHECKING:
    from chatops.application.deploys import Deploys

EPHEMERAL = 64  # Discord's message flag


@dataclass
class DiscordBot(Bot):
    platform: str = "discord"

    async def post(self, notice: ApprovalNotice) -> dict[str, str] | None:
        data = await self._call("POST", f"{self.api}/channels/{self.channel}/messages", {
            "content": notice.text(), "allowed_mentions": {"parse": []},
            "components": [{"type": 1, "components": [
                {"type": 2, "style": 3, "label": "Approve",
                 "custom_id": button_id("approve", notice.run_id, notice.sha)},
                {"type": 2, "style": 4, "label": "Deny",
                 "custom_id": button_id("deny", notice.run_id, notice.sha)}]}]},
            f"Bot {self.token}")
        if data is None or "id" not in data:
            return None
        return {"platform": "discord", "channel": self.channel, "message": str(data["id"])}

    async def settle(self, ref: dict[str, str], text: str) -> None:
        await self._call("PATCH", f"{self.api}/channels/{ref['channel']}/messages/"
                         f"{ref['message']}", {"content": text[:LIMIT], "components": []},
                         f"Bot {self.token}")



@register
class Discord(ChatSurface):
    name = "discord"
    summary = "application commands (HTTP interactions, Ed25519), approval buttons"
    bot = DiscordBot

    async def handle(self, request: Request) -> JSONResponse:
        settings = self.settings
        if not settings.discord_public_key:
            raise NotFoundError("Not Found")
        body = await request.body()
        signature = request.headers.get("x-signature-ed25519", "")
        timestamp = request.headers.get("x-signature-timestamp", "")
        if not discord_valid(settings.discord_public_key, signature, timestamp, body):
            raise self.refused(request, self.endpoint, BadSignatureError(
                "X-Signature-Ed25519 does not match the body and X-Signature-Timestamp"))
        why = stale(timestamp, "X-Signature-Timestamp")
        if why is not None:
            raise self.refused(request, self.endpoint, BadSignatureError(why))
        try:
            interaction = json.loads(body)
            kind = int(interaction["type"])
        except (ValueError, KeyError, TypeError):
            raise InvalidPayloadError("expected a Discord interaction (JSON with a type)"
                                      ) from None
        # Discord gives every interaction an id of its own; the signed id is the request.
        self.once(request, self.endpoint, f"discord:{interaction.get('id') or signature}")
        request.scope["state"]["audited"] = True  # the use cases record their decisions
        data = interaction.get("data") or {}
        options = {str(o.get("name")): str(o.get("value", ""))
                   for o in data.get("options") or [] if isinstance(o, dict)}
        if kind == 1:  # PING
            return JSONResponse({"type": 1})
        if kind == 4:  # autocomplete: intent names
            return JSONResponse({"type": 8, "data": {"choices": _choices(self.deploys, data)}})
        if kind not in (2, 3):
            raise InvalidPayloadError(f"interaction type {kind} is not handled")
        member = interaction.get("member") or {}
        user = str((member.get("user") or interaction.get("user") or {}).get("id", ""))
        who = resolve(settings.chat_identities, "discord", user, member.get("roles") or [])
        if kind == 3:  # a button: Approve or Deny
            return await self.button(request, who, interaction)
        app_id = settings.discord_application_id or str(interaction.get("application_id"))
        original = (f"{settings.discord_api}/webhooks/{app_id}/"
                    f"{interaction.get('token', '')}/messages/@original")

        async def edit(text: str) -> None:
            await self.post("PATCH", original, {"content": text})

        async def report(ans: Answer) -> None:
            await edit(ans.text)
            if ans.run_id:
                await follow(self.deploys, ans, edit)

        ans = self.flooded(request, self.endpoint, who) or await self.answer_in_time(
            handle(self.deploys, self.caller(request, self.endpoint, who),
                   str(data.get("name")), options), report)
        if ans is None:  # deferred: "chatops is thinking", then the edit
            return JSONResponse({"type": 5})
        if ans.run_id:
            self.background(follow(self.deploys, ans, edit))
        return JSONResponse({"type": 4, "data": {
            "content": ans.text, "flags": EPHEMERAL if ans.ephemeral else 0}})

    async def button(self, request: Request, who: ChatPermissions,
                             interaction: dict[str, Any]) -> JSONResponse:
        """An approver's click: the message is updated with the tally (its buttons gone
        once the run is decided); a refusal is answered to the clicker alone."""
        custom = str((interaction.get("data") or {}).get("custom_id", ""))
        ans = await self.verdict(request, self.endpoint, who, custom)
        if isinstance(ans, Answer):
            return JSONResponse({"type": 4, "data": {"content": ans.text[:LIMIT],
                                                     "flags": EPHEMERAL}})
        message = interaction.get("message") or {}
        question = str(message.get("content", "")).split(TALLY)[0].rstrip()
        decided = ans.record.status is not RunStatus.awaiting_approval
        return JSONResponse({"type": 7, "data": {
            "content": f"{question}{TALLY}{ans.text()}"[-LIMIT:],
            "components": [] if decided else message.get("components") or []}})


def _choices(deploys: Deploys, data: dict[str, Any]) -> list[dict[str, str]]:
    """Autocomplete: the intents (or, for a stack option, the stacks) matching what the
    person typed so far."""
    focused = next((o for o in data.get("options") or []
                    if isinstance(o, dict) and o.get("focused")), {})
    typed = str(focused.get("value", "")).lower()
    try:
        paths = deploys.ctx.repo.intent_files()
    except ChatopsError:
        return []  # no repository yet: nothing to offer
    names = sorted(p.stem for p in paths)
    if focused.get("name") == "stack":
        stacks: set[str] = set()
        for name in names:
            try:
                stacks.update(d.stack for d in deploys.ctx.load(name).documents)
            except ChatopsError:
                continue
        names = sorted(stacks)
    return [{"name": n, "value": n} for n in names if typed in n.lower()][:25]
