"""Who may do what from chat: a chat identity's grant, as the permissions of a Caller."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from msgspec import Struct

from chatops.application.caller import grant_approval_refusal, grant_refusal
from chatops.identities import IDENTITY_KINDS
from chatops.settings import ChatGrant


class ChatPermissions(Struct, frozen=True):
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
    kind = IDENTITY_KINDS[platform][1]  # its groups: a Discord role, a Slack user group
    groups = tuple(f"{platform}:{kind}:{r}" for r in sorted(roles))
    grant = grants.get(name)
    if grant is None:
        grant = next((grants[g] for g in groups if g in grants), None)
    if grant is None:
        return ChatPermissions(name, frozenset(), groups=groups)
    return ChatPermissions(name, frozenset(grant.scopes), grant.intents, grant.stacks,
                           groups)
