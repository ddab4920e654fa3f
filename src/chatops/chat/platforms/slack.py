"""Slack: slash commands and interactivity, signed with the app's signing secret
(``POST /chat/slack``), the bot that asks for approvals with buttons
(``chat.postMessage``, ``Authorization: Bearer …``), and the user groups a grant may
name (``slack:group:ID``, read from ``usergroups.list``).

A command is answered within Slack's 3 seconds ("working on it…" when the work takes
longer), and the run's outcome is said afterwards through ``response_url``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import JSONResponse

from chatops.chat.commands import Answer, handle
from chatops.chat.identities import resolve
from chatops.chat.platforms import register
from chatops.chat.signatures import slack_valid
from chatops.chat.surface import TALLY, ChatSurface, follow
from chatops.errors import BadSignatureError, InvalidPayloadError, NotFoundError
from chatops.notify.approvals import ApprovalNotice, Bot, button_id
from chatops.store.records import RunStatus
from chatops.tls import async_client

if TYPE_CHECKING:
    from chatops.application.deploys import Deploys
    from chatops.settings import Settings


@dataclass
class SlackBot(Bot):
    platform: str = "slack"

    async def post(self, notice: ApprovalNotice) -> dict[str, str] | None:
        text = notice.text().replace("**", "*")
        data = await self._call("POST", f"{self.api}/chat.postMessage", {
            "channel": self.channel, "text": text, "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}},
                {"type": "actions", "block_id": "chatops-approval", "elements": [
                    {"type": "button", "action_id": "approve", "style": "primary",
                     "text": {"type": "plain_text", "text": "Approve"},
                     "value": button_id("approve", notice.run_id, notice.sha)},
                    {"type": "button", "action_id": "deny", "style": "danger",
                     "text": {"type": "plain_text", "text": "Deny"},
                     "value": button_id("deny", notice.run_id, notice.sha)}]}]},
            f"Bearer {self.token}")
        if data is None or not data.get("ok") or "ts" not in data:
            return None
        return {"platform": "slack", "channel": str(data.get("channel") or self.channel),
                "message": str(data["ts"])}

    async def settle(self, ref: dict[str, str], text: str) -> None:
        text = text.replace("**", "*")
        await self._call("POST", f"{self.api}/chat.update", {
            "channel": ref["channel"], "ts": ref["message"], "text": text, "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}]},
            f"Bearer {self.token}")


@dataclass
class SlackDirectory:
    """Which Slack user groups a person is in (``slack:group:ID``), from Slack's
    ``usergroups.list`` with their members: one call a minute at most, with the bot
    token. Without a token, or when Slack does not answer, nobody is in any group."""

    api: str
    token: str | None = field(default=None, repr=False)
    ttl: float = 60.0
    _members: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _read_at: float = -1e9

    async def groups(self, user: str) -> tuple[str, ...]:
        if not self.token or not user:
            return ()
        now = time.monotonic()
        if now - self._read_at > self.ttl:
            self._read_at = now
            self._members = await self._read()
        return self._members.get(user, ())

    async def _read(self) -> dict[str, tuple[str, ...]]:
        import httpx  # noqa: PLC0415 - only with Slack configured

        try:
            async with async_client(timeout=5.0) as client:
                resp = await client.get(f"{self.api}/usergroups.list",
                                        params={"include_users": "true"},
                                        headers={"Authorization": f"Bearer {self.token}"})
                data = resp.json()
        except (httpx.HTTPError, ValueError):
            return self._members  # keep what was known
        if not isinstance(data, dict) or not data.get("ok"):
            return self._members
        members: dict[str, list[str]] = {}
        for group in data.get("usergroups") or []:
            if not isinstance(group, dict) or not group.get("id"):
                continue
            for user in group.get("users") or []:
                members.setdefault(str(user), []).append(str(group["id"]))
        return {user: tuple(sorted(ids)) for user, ids in members.items()}


@register
class Slack(ChatSurface):
    name = "slack"
    summary = "slash commands and interactivity (signing secret), approval buttons"
    bot = SlackBot
    content_type = "application/x-www-form-urlencoded"

    def __init__(self, settings: Settings, deploys: Deploys, audit: Any) -> None:
        super().__init__(settings, deploys, audit)
        token = settings.slack_bot_token
        self.directory = SlackDirectory(settings.slack_api,
                                        token.get_secret_value() if token else None)

    async def handle(self, request: Request) -> JSONResponse:
        settings = self.settings
        if settings.slack_signing_secret is None:
            raise NotFoundError("Not Found")
        body = await request.body()
        why = slack_valid(settings.slack_signing_secret.get_secret_value(),
                          request.headers.get("x-slack-signature", ""),
                          request.headers.get("x-slack-request-timestamp", ""), body)
        if why is not None:
            raise self.refused(request, self.endpoint, BadSignatureError(why))
        # Slack has no request id: its signature (over the timestamp and body) is one.
        self.once(request, self.endpoint,
                  "slack:" + request.headers.get("x-slack-signature", "")[:200])
        request.scope["state"]["audited"] = True
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if "payload" in form:  # interactivity: a button of an approval message
            return await self.button(request, form["payload"])
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
                await follow(self.deploys, ans, reply)

        ans = self.flooded(request, self.endpoint, who) or await self.answer_in_time(
            handle(self.deploys, self.caller(request, self.endpoint, who), command,
                   _slack_options(command, form.get("text", "").split())), report)
        if ans is None:
            return JSONResponse({"response_type": "ephemeral", "text": "working on it…"})
        if ans.run_id:
            self.background(follow(self.deploys, ans, reply))
        return JSONResponse({"response_type": "ephemeral" if ans.ephemeral else "in_channel",
                             "text": ans.text})


    async def button(self, request: Request, raw: str) -> JSONResponse:
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
        ans = await self.verdict(request, self.endpoint, who, button)
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


def _slack_options(command: str, words: list[str]) -> dict[str, str]:
    names = {"deploy": ("intent", "sha"), "rollback": ("stack",), "status": ("stack",),
             "plan": ("intent",)}.get(command, ())
    return dict(zip(names, words, strict=False))
