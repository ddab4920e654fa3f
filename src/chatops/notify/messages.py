"""What a run's outcome says in chat. Pure: a record in, title, body and level out.

The seed's words: title "🤖 ChatOps Audit", first line
"✅ SUCCESS: rollout on stack stack-media (intent: rollout_stack_media)". Each message is
rendered twice: Markdown for chats that render it (Discord, Slack, Matrix...), where every
value from outside is escaped, and plain text for the rest (``json://``, ntfy, mail...),
where the same line reads exactly as the seed wrote it. Both are trimmed to Discord's
limits, and ``@`` never becomes a mention.
"""

from __future__ import annotations

import re
from typing import Any

from msgspec import Struct

from chatops.durations import format_duration
from chatops.store.summaries import traffic_summary

TITLE = "🤖 ChatOps Audit"
HEADLINES = {
    "succeeded": ("✅", "SUCCESS", "success"),
    "failed": ("❌", "FAILED", "failure"),
    "rolled_back": ("↩️", "ROLLED BACK", "warning"),
    "rollback_failed": ("⚠️", "ROLLBACK FAILED", "failure"),
    "interrupted": ("⏹️", "INTERRUPTED", "warning"),
    "waiting": ("⏸️", "WAITING FOR PROMOTE", "info"),
}
# docs.discord.com: content 2,000; embed title 256, description 4,096, field value 1,024.
MAX_TITLE = 256
MAX_BODY = 4000
MAX_FIELD = 1000
_MARKDOWN = re.compile(r"([\\`*_~|>\[\]()#])")


def escape(text: object, limit: int = MAX_FIELD) -> str:
    """Markdown-inert, mention-free, one paragraph, and at most ``limit`` characters."""
    value = str(text).replace("\r", " ").replace("\n", " ")
    value = _MARKDOWN.sub(r"\\\1", value)
    value = value.replace("@", "@\u200b")  # no @everyone, no user pings
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return value


def verbatim(text: object, limit: int = MAX_FIELD) -> str:
    """For plain text: one paragraph, mention-free, at most ``limit`` characters."""
    value = str(text).replace("\r", " ").replace("\n", " ").replace("@", "@\u200b")
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return value


def plain(text: object, limit: int = MAX_FIELD) -> str:
    """For a section: Apprise shows sections in code blocks, where Markdown escapes would
    show literally; so only what could break out (backticks) or ping (@) is defused."""
    value = str(text).replace("\r", " ").replace("\n", " ").replace("`", "'")
    value = value.replace("@", "@\u200b")
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return value


class ChatMessage(Struct, frozen=True):
    title: str
    body: str  # Markdown: a headline, then "## Field" sections (Discord embed fields)
    level: str  # success, failure, warning, info (Apprise notify types)
    headline: str
    text: str = ""  # plain text: the headline as written, then "Field: value" lines

    def payload(self) -> dict[str, str]:
        """What the outbox keeps for a chat target: both renderings."""
        return {"title": self.title, "body": self.body, "text": self.text or self.body,
                "level": self.level}


def _compose(headline: str, text_headline: str, sections: list[tuple[str, str]],
             level: str) -> ChatMessage:
    body = headline + "".join(f"\n\n## {name}\n{value}" for name, value in sections)
    text = text_headline + "".join(f"\n{name}: {value}" for name, value in sections)
    return ChatMessage(TITLE, body[:MAX_BODY], level, headline, text[:MAX_BODY])


def _images(snapshots: list[dict[str, Any]]) -> tuple[str, str] | None:
    before = next((s for s in snapshots if s.get("kind") == "before"), None)
    if not before:
        return None
    for svc, entry in (before.get("services") or {}).items():
        containers = entry.get("containers") or []
        if containers:
            old = containers[0]
            restored = f"{old.get('image_ref')} ({str(old.get('image_id'))[:19]})"
            failed = entry.get("wanted_ref") or entry.get("image_ref")
            return f"{svc}: {failed}", f"{svc}: {restored}"
    return None


def run_message(record: dict[str, Any], *, action: str, stack: str,
                link: str | None = None) -> ChatMessage:
    status = str(record.get("status"))
    icon, word, level = HEADLINES.get(status, ("ℹ️", status.upper(), "info"))
    headline = (f"{icon} {word}: {escape(action, 40)} on stack {escape(stack, 100)} "
                f"(intent: {escape(record.get('intent'), 200)})")
    as_text = (f"{icon} {word}: {verbatim(action, 40)} on stack {verbatim(stack, 100)} "
               f"(intent: {verbatim(record.get('intent'), 200)})")
    sections: list[tuple[str, str]] = []
    if record.get("reason") and status != "succeeded":
        sections.append(("Reason", plain(record["reason"])))
    if status == "rolled_back":
        images = _images(record.get("snapshots") or [])
        if images:
            sections.append(("Failed image", plain(images[0])))
            sections.append(("Restored image", plain(images[1])))
    traffic = traffic_summary(record.get("traffic"))
    if traffic:
        sections.append(("Traffic", plain(traffic)))
    duration = record.get("duration_seconds")
    if duration is not None:
        sections.append(("Duration", f"{float(duration):.1f} s"))
    if record.get("sha"):
        sections.append(("Commit", plain(str(record["sha"])[:40])))
    sections.append(("Triggered by", plain(f"{record.get('actor')} via "
                                            f"{record.get('trigger')} from "
                                            f"{record.get('client')}")))
    sections.append(("Run", plain(link or str(record.get("id")))))
    return _compose(headline, as_text, sections, level)


def security_message(reason: str, count: int, clients: list[str], window: float) -> ChatMessage:
    """One message per window for a flood of refused requests, not one per request."""
    who = ", ".join(plain(c, 60) for c in clients[:10])
    more = f" and {len(clients) - 10} more" if len(clients) > 10 else ""
    headline = f"🛡️ REFUSED: {count} request(s) ({escape(reason, 60)}) in {window:g} s"
    as_text = f"🛡️ REFUSED: {count} request(s) ({verbatim(reason, 60)}) in {window:g} s"
    if reason == "key_spray":
        headline = as_text = (
            f"🚨 ALERT: wrong API keys from many addresses ({count} spray(s) in "
            f"{window:g} s); each address is now locked out after one wrong key")
    return _compose(headline, as_text, [("From", f"{who}{more}")], "warning")


def fetch_message(*, failing: bool, remote: str, branch: str, since: float, count: int,
                  error: str = "") -> ChatMessage:
    """Pull mode's one alert when fetching keeps failing, and its one recovery message."""
    lasted = format_duration(since)
    if failing:
        headline = (f"🚨 ALERT: fetching {branch} from {remote} has failed {count} times in "
                    f"a row (for {lasted}): new commits are not deployed")
        return _compose(escape(headline, 300), verbatim(headline, 300),
                        [("Git said", plain(error, 500))], "failure")
    headline = (f"✅ RECOVERED: fetching {branch} from {remote} works again, after "
                f"{count} failed fetch(es) over {lasted}")
    return _compose(escape(headline, 300), verbatim(headline, 300), [], "success")


def drift_message(where: str, items: list[tuple[str, str]], *, healing: str | None = None
                  ) -> ChatMessage:
    """A stack's drift, told once (and again only when it changes); or, with no items,
    its resolution."""
    if not items:
        headline = f"✅ RESOLVED: {where} matches its last good deploy again"
        return _compose(escape(headline, 300), verbatim(headline, 300), [], "success")
    headline = f"⚠️ DRIFT: {where} differs from its last good deploy ({len(items)} finding(s))"
    lines = "; ".join(f"{kind}: {message}" for kind, message in items[:10])
    sections = [("Found", plain(lines, 900))]
    if healing:
        sections.append(("Healing", plain(healing, 300)))
    return _compose(escape(headline, 300), verbatim(headline, 300), sections, "warning")


def preview_message(headline: str, fields: list[tuple[str, str]], level: str
                    ) -> ChatMessage:
    """A pull request's preview created, updated or removed."""
    return _compose(escape(headline, 300), verbatim(headline, 300),
                    [(name, plain(value, 300)) for name, value in fields], level)


def containers_message(where: str, lines: list[str], logs: list[str], *,
                       recovered: bool = False) -> ChatMessage:
    """Containers that died, turned unhealthy, crash-loop or were OOM-killed outside a
    deploy (one message for a stack, or for a host when many stacks fail at once); or
    their recovery."""
    if recovered:
        headline = f"✅ UP AGAIN: {where}: {len(lines)} container(s) running again"
        return _compose(escape(headline, 300), verbatim(headline, 300),
                        [("Containers", plain("; ".join(lines), 900))], "success")
    headline = f"💥 DOWN: {where}: {len(lines)} container(s) failed outside a deploy"
    sections = [("Containers", plain("; ".join(lines), 900))]
    if logs:
        sections.append(("Last log lines", plain(" | ".join(logs), 900)))
    return _compose(escape(headline, 300), verbatim(headline, 300), sections, "failure")
