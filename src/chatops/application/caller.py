"""Who asks for a use case, what they may do, and where decisions are recorded.

Each surface builds a ``Caller``: the HTTP API from the request's key and address, the
webhook and the scheduler as themselves. Permissions are an interface so that an API
key, a chat identity or a local operator can each stand behind one.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from msgspec import Struct


class Permissions(Protocol):
    """What a caller may do (an API key is one)."""

    @property
    def name(self) -> str: ...

    def may(self, scope: str) -> bool: ...

    def refusal(self, intent: str, stacks: Iterable[str],
                actions: Iterable[str]) -> str | None: ...

    def approval_refusal(self, intent: str, stacks: Iterable[str],
                         approvers: Sequence[str]) -> str | None:
        """Why this caller may not approve a run of ``intent`` on ``stacks`` that
        ``approvers`` (empty: anyone with the scope) must approve, or None."""


class Auditor(Protocol):
    """The audit trail (``store.audit.AuditLog``)."""

    failing: str | None

    def record(self, *, client: str, method: str, endpoint: str, decision: str,
               status: int, request_id: str, key_name: str | None = None,
               intent: str | None = None, reason: str | None = None,
               run_id: str | None = None, flush: bool = False) -> None: ...

    def flush(self) -> None: ...


def grant_refusal(who: str, scopes: Iterable[str], intents: str, allowed_stacks: Iterable[str],
                  allowed_actions: Iterable[str], *, intent: str, stacks: Iterable[str],
                  actions: Iterable[str]) -> str | None:
    """Why a grant (an API key's, a chat identity's) may not run ``intent`` on ``stacks``
    with ``actions``, or None. ``who`` names it in the answer (``key 'ci'``,
    ``discord:user:1234``); empty ``allowed_stacks``/``allowed_actions`` allow all."""
    reach = _reach(who, scopes, ("run", "start runs", "deploy"), (intents, allowed_stacks),
                   intent=intent, stacks=stacks)
    if reach:
        return reach
    permitted = tuple(allowed_actions)
    for action in actions:
        if permitted and action not in permitted:
            return f"{who} may not run action {action!r}"
    return None


def grant_approval_refusal(who: str, scopes: Iterable[str], intents: str,
                           allowed_stacks: Iterable[str], identities: Iterable[str], *,
                           intent: str, stacks: Iterable[str],
                           approvers: Sequence[str]) -> str | None:
    """Why a grant may not approve a run of ``intent``: it needs the ``approve`` scope,
    the intent and its stacks in reach, and, when the intent names approvers, to be one
    of them (``identities``: the person, their roles or groups, or ``key:NAME``)."""
    reach = _reach(who, scopes, ("approve", "approve runs", "approve for"),
                   (intents, allowed_stacks), intent=intent, stacks=stacks)
    if reach:
        return reach
    if approvers and not set(identities) & set(approvers):
        return f"{who} is not among the approvers of {intent!r} ({', '.join(approvers)})"
    return None


def _reach(who: str, scopes: Iterable[str], need: tuple[str, str, str],
           grant: tuple[str, Iterable[str]], *, intent: str, stacks: Iterable[str]
           ) -> str | None:
    """The scope ``need`` names (its words: what it allows, done to a stack), then the
    intent and its stacks within the grant."""
    verb, what, stack_verb = need
    scopes = tuple(scopes)
    if verb not in scopes:
        return f"{who} may not {what} (scopes: {', '.join(scopes) or 'none'})"
    intents, allowed_stacks = grant
    if not fnmatch.fnmatchcase(intent, intents):
        return f"{who} may {verb} intents matching {intents!r}, not {intent!r}"
    allowed = tuple(allowed_stacks)
    for stack in stacks:
        if allowed and stack not in allowed:
            return f"{who} may not {stack_verb} stack {stack!r}"
    return None


class Trusted(Struct, frozen=True):
    """The permissions of a part of the service itself (the scheduler, a signed
    webhook): every intent and scope, but never outside a deploy window."""

    name: str

    def may(self, scope: str) -> bool:
        return scope not in ("override-window", "approve")

    def refusal(self, intent: str, stacks: Iterable[str],
                actions: Iterable[str]) -> str | None:
        return None

    def approval_refusal(self, intent: str, stacks: Iterable[str],
                         approvers: Sequence[str]) -> str | None:
        return f"{self.name} never approves a run: people do"


class Operator(Struct, frozen=True):
    """Someone on the host (the CLI, or the service's socket, whose file permission is
    the credential): every intent and scope; outside a deploy window only when they say
    so (``--override-window``)."""

    name: str
    override_window: bool = False

    def may(self, scope: str) -> bool:
        return scope != "override-window" or self.override_window

    def refusal(self, intent: str, stacks: Iterable[str],
                actions: Iterable[str]) -> str | None:
        return None

    def approval_refusal(self, intent: str, stacks: Iterable[str],
                         approvers: Sequence[str]) -> str | None:
        return None  # whoever may deploy by hand on the host may approve


class Caller(Struct, frozen=True):
    """Who asks: the surface (``via``: api, webhook, schedule, cli), their name as the
    run history and the audit trail show it, their address, and how to record it."""

    via: str
    permissions: Permissions
    client: str = "local"
    request_id: str = "-"
    method: str = "POST"
    endpoint: str = "/run"
    local: bool = False  # on the host: without approval rules configured, running approves

    @property
    def name(self) -> str:
        return self.permissions.name

    def may(self, scope: str) -> bool:
        return self.permissions.may(scope)


def request_facts(scope: Mapping[str, Any]) -> tuple[str, str]:
    """The client address and request id the service's guard recorded on a request."""
    state = scope.get("state") or {}
    return str(state.get("client", "unknown")), str(state.get("request_id", "-"))
