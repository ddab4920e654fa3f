"""Chat targets through Apprise (Discord, Slack, Telegram, ntfy, Gotify, Matrix, email...).

Targets are configured on the host (``CHATOPS_NOTIFY_URLS``, and the seed's
``DISCORD_WEBHOOK_URL``) and stored in the outbox by name only: ``apprise-<hash>``, so a
webhook token never reaches the database. Discord URLs are sent with ``format=markdown``
so that Apprise posts a rich embed (title, colour, one field per section).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chatops.intents.fields import NOTIFY_EVENTS, STATUS_EVENTS
from chatops.notify.messages import ChatMessage, run_message
from chatops.notify.outbox import Delivery
from chatops.notify.targets import RunNotice

if TYPE_CHECKING:
    from chatops.notify.targets import Target
    from chatops.settings import Settings

SEND_TIMEOUT = 20.0


def target_name(url: str) -> str:
    scheme = urlsplit(url).scheme or "url"
    return f"apprise-{scheme}-{hashlib.sha256(url.encode()).hexdigest()[:12]}"


#: Chats that render Markdown: they get the escaped Markdown rendering, every other
#: target (json://, ntfy, Gotify, mail...) the plain text, where nothing is escaped.
MARKDOWN_SCHEMES = frozenset({"discord", "slack", "matrix", "matrixs", "mmost", "mmosts",
                              "rocket", "rockets", "msteams", "tgram", "zulip", "guilded",
                              "revolt"})


def _discord(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "discord" or (parts.hostname or "").endswith(
        ("discord.com", "discordapp.com"))


def renders_markdown(url: str) -> bool:
    return _discord(url) or urlsplit(url).scheme.lower() in MARKDOWN_SCHEMES


def with_rich_format(url: str) -> str:
    parts = urlsplit(url)
    if _discord(url) and "format=" not in (parts.query or ""):
        return url + ("&" if parts.query else "?") + "format=markdown"
    return url


def parse_urls(*values: str | None) -> list[str]:
    urls: list[str] = []
    for value in values:
        for item in (value or "").replace(",", " ").split():
            if item and item not in urls:
                urls.append(item)
    return urls


def targets(settings: Settings) -> list[Target]:
    """One target a URL of ``CHATOPS_NOTIFY_URLS`` (``URL`` or ``tag=URL``)."""
    found: list[Target] = []
    for item in settings.notify_urls:
        tag, sep, url = item.partition("=")
        if not sep or "://" in tag:
            tag, url = "", item
        found.append(AppriseTarget(url, tag=tag or None))
    return found


class AppriseTarget:
    def __init__(self, url: str, timeout: float = SEND_TIMEOUT, tag: str | None = None) -> None:
        self.url = with_rich_format(url)
        self.name = target_name(url)
        self.markdown = renders_markdown(url)
        self.timeout = timeout
        self.tag = tag

    def _send(self, payload: dict[str, Any]) -> bool:
        import apprise  # noqa: PLC0415 - imported by the sender, not by every command

        app = apprise.Apprise()
        if not app.add(self.url):
            return False
        if self.markdown:
            body, body_format = payload["body"], apprise.NotifyFormat.MARKDOWN
        else:
            body, body_format = payload.get("text", payload["body"]), apprise.NotifyFormat.TEXT
        return bool(app.notify(title=payload["title"], body=body,
                               notify_type=payload.get("level", "info"),
                               body_format=body_format))

    def for_run(self, notice: RunNotice) -> dict[str, Any] | None:
        """The seed's message, for the intents that name this target's tag (or all, with
        no tag) and the outcomes they want announced."""
        wanted = set(notice.plan.get("notify") or [])
        if self.tag is not None and self.tag not in wanted:
            return None
        on = set(notice.plan.get("notify_on") or NOTIFY_EVENTS)
        if STATUS_EVENTS.get(notice.status) not in on:
            return None
        record = notice.record()
        first = (notice.plan.get("steps") or [{}])[0]
        message = run_message(record, action=str(first.get("action", "run")),
                              stack=", ".join(record.get("stacks") or []) or "?",
                              link=notice.link)
        return message.payload()

    def for_security(self, message: ChatMessage) -> dict[str, Any] | None:
        return message.payload()

    def valid(self) -> bool:
        import apprise  # noqa: PLC0415

        return bool(apprise.Apprise().add(self.url))

    async def __call__(self, payload: dict[str, Any]) -> Delivery:
        try:
            ok = await asyncio.wait_for(asyncio.to_thread(self._send, payload), self.timeout)
        except TimeoutError:
            return Delivery(False, f"{urlsplit(self.url).scheme} target did not answer "
                            f"within {self.timeout:g}s")
        if ok:
            return Delivery(True, "delivered")
        return Delivery(False, f"{urlsplit(self.url).scheme} target refused or failed "
                        "(see the service log)")
