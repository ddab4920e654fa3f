"""Messages that ask for an approval, with Approve and Deny buttons, posted by the bot.

A plain webhook message cannot carry buttons, so these go through the platforms' bot
APIs: Discord's ``POST /channels/{id}/messages`` (``Authorization: Bot …``) and Slack's
``chat.postMessage`` (``Authorization: Bearer …``). A click comes back to
``POST /chat/discord`` or ``POST /chat/slack``, signed like a command, and names the
run and the commit in its ``custom_id`` (Discord) or ``value`` (Slack): an approval
binds to both. When the run is decided (approved and done, denied, expired, superseded),
the message is edited to say so, without its buttons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from msgspec import Struct

from chatops.planning.images import ImageChange
from chatops.tls import async_client

if TYPE_CHECKING:
    pass

LIMIT = 1900  # Discord's message is 2,000 characters
TIMEOUT = 10.0


class ApprovalNotice(Struct, frozen=True):
    """A run that waits for approvals, as the people asked to judge it see it."""

    run_id: str
    intent: str
    sha: str | None
    actor: str
    via: str
    min: int
    approvers: tuple[str, ...]
    expires_at: str
    plan: str  # the plan as text (the dry run's output)
    pull_request: dict[str, Any] | None = None
    changes: tuple[ImageChange, ...] = ()

    def text(self) -> str:
        """The message: what would run, from which commit and pull request, with what
        image changes, and who may approve it until when."""
        lines = [f"🔐 **Approval needed**: {self.intent} (run `{self.run_id}`), asked by "
                 f"{self.actor} via {self.via}"]
        if self.sha:
            lines.append(f"Commit: `{self.sha[:12]}`")
        pr = self.pull_request
        if pr:
            lines.append(f"Pull request: #{pr.get('number')} {pr.get('title') or ''} by "
                         f"{pr.get('author') or '?'} ({pr.get('url') or ''})".rstrip(" ()"))
        if self.changes:
            lines.append("Images: " + "; ".join(str(c) for c in self.changes))
        who = ", ".join(self.approvers) or "anyone with the approve scope"
        lines.append(f"Needs {self.min} approval(s) from {who}; expires at "
                     f"{self.expires_at[11:16]} UTC")
        head = "\n".join(lines)
        room = LIMIT - len(head) - 10
        return f"{head}\n```\n{self.plan[:max(0, room)]}\n```"


def button_id(verdict: str, run_id: str, sha: str | None) -> str:
    """What a button click sends back: the verdict, the run and its commit."""
    return f"{verdict}:{run_id}:{sha or '-'}"


def parse_button(value: str) -> tuple[str, str, str | None] | None:
    """(verdict, run id, commit) from a button's id, or None when it is not ours."""
    parts = value.split(":")
    if len(parts) != 3 or parts[0] not in ("approve", "deny") or not parts[1]:
        return None
    return parts[0], parts[1], None if parts[2] == "-" else parts[2]


class Announcer(Protocol):
    """A place that asks people for approvals (a bot in a channel)."""

    platform: str

    async def post(self, notice: ApprovalNotice) -> dict[str, str] | None:
        """Post the question; return what identifies the message (to edit it later)."""

    async def settle(self, ref: dict[str, str], text: str) -> None:
        """Edit the message to ``text``, without its buttons."""


@dataclass
class Bot:
    """A chat platform's bot: its API, token and approval channel, and one call."""

    api: str
    token: str = field(repr=False)
    channel: str
    platform: str = ""

    async def post(self, notice: ApprovalNotice) -> dict[str, str] | None:
        raise NotImplementedError

    async def settle(self, ref: dict[str, str], text: str) -> None:
        raise NotImplementedError

    async def _call(self, method: str, url: str, body: dict[str, Any],
                    auth: str) -> dict[str, Any] | None:
        import httpx  # noqa: PLC0415 - only when a bot is configured

        try:
            async with async_client(timeout=TIMEOUT) as client:
                resp = await client.request(method, url, json=body,
                                            headers={"Authorization": auth})
                data = resp.json() if resp.content else {}
        except (httpx.HTTPError, ValueError):
            return None  # the run still waits; the API and the CLI can approve it
        return data if resp.is_success and isinstance(data, dict) else None
