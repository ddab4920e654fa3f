"""Who a grant or an approver names: ``platform:kind:ID`` for each chat platform's people
and groups, ``key:NAME`` for an API key, ``user:NAME`` for a dashboard user. The intent
contract (approvers) and the settings (chat grants) read the same table; the chat
platforms' registry is held to it by a test."""

from __future__ import annotations

import re

#: Each chat platform's identity kinds: its people, then its groups.
IDENTITY_KINDS = {"discord": ("user", "role"), "slack": ("user", "group")}

#: An approver of an intent: a chat identity, an API key or a dashboard user.
APPROVER_RE = re.compile(
    "^(" + "|".join(f"{p}:({'|'.join(kinds)})" for p, kinds in IDENTITY_KINDS.items())
    + r"|key|user):[A-Za-z0-9_.@-]{1,64}$")


def chat_shapes() -> list[str]:
    """``discord:user:ID``, ``discord:role:ID``, ... for messages."""
    return [f"{p}:{k}:ID" for p, kinds in IDENTITY_KINDS.items() for k in kinds]
