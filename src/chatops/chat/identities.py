"""Who may do what from chat: a chat identity's grant, as the permissions of a Caller."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from chatops.application.caller import grant_approval_refusal, grant_refusal
from chatops.settings import ChatGrant


@dataclass(frozen=True)
class ChatPermissions:
    """The permissions of one person in chat, named as the audit trail shows them
    (``discord:user:1234``): the scopes of their grant, for its intents and stacks."""

    name: str
    scopes: frozenset[str]
    intents: str = "*"
    stacks: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()  # their roles (Discord) or user groups (Slack)

    def may(self, scope: str) -> bool:
        return scope in self.scopes  # never override-window: chat waits for the window

    def refusal(self, intent: str, stacks: Iterable[str],
                actions: Iterable[str]) -> str | None:
        return grant_refusal(self.name, sorted(self.scopes), self.intents, self.stacks, (),
                             intent=intent, stacks=stacks, actions=actions)

    def approval_refusal(self, intent: str, stacks: Iterable[str],
                         approvers: Sequence[str]) -> str | None:
        return grant_approval_refusal(self.name, sorted(self.scopes), self.intents,
                                      self.stacks, (self.name, *self.groups), intent=intent,
                                      stacks=stacks, approvers=approvers)


def resolve(grants: Mapping[str, ChatGrant], platform: str, user: str,
            roles: Iterable[str] = ()) -> ChatPermissions:
    """The grant of ``user`` (their own, else the first of their roles or user groups
    that has one); without any, they may do nothing (every command is refused, and
    audited)."""
    name = f"{platform}:user:{user}"
    kind = "role" if platform == "discord" else "group"
    groups = tuple(f"{platform}:{kind}:{r}" for r in sorted(roles))
    grant = grants.get(name)
    if grant is None:
        grant = next((grants[g] for g in groups if g in grants), None)
    if grant is None:
        return ChatPermissions(name, frozenset(), groups=groups)
    return ChatPermissions(name, frozenset(grant.scopes), grant.intents, grant.stacks,
                           groups)


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
            async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
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
