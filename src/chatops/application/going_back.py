"""Going back: the intent that returns a stack to its newest good deploy's images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chatops.errors import RequestError, RunNotFoundError
from chatops.intents.loader import IntentFile
from chatops.intents.model import IntentDoc
from chatops.planning import PlanContext, build_plan
from chatops.planning.steps import Plan
from chatops.repo import GitOpsRepo
from chatops.settings import Settings
from chatops.store.sqlite import RunStore


def rollback_intent(store: RunStore, stack: str, service: str | None) -> IntentFile:
    """An intent of action ``rollback`` for ``stack``, from its newest good snapshot."""
    good = store.good_snapshots(stack)
    if not good:
        raise RunNotFoundError("", f"no succeeded run of stack {stack!r} in the run "
                               "history; nothing to return to")
    _, snap = good[0]
    compose = Path(snap["compose_file"])
    # A stack on a named host is recorded as STACK@HOST: the rollback goes there.
    name, _, host = stack.partition("@")
    fields: dict[str, Any] = {
        "label_required": "chatops-rollback", "action": "rollback", "stack": name,
        "service": service, "compose": str(compose), "health": snap.get("health", []),
        "host": host or None,
    }
    if snap.get("strategy") == "blue-green" and service in (None, snap.get("service")):
        # Going back is a switch to the standby slot.
        fields.update(strategy="blue-green", service=snap["service"], traffic=snap["traffic"])
    try:
        doc = IntentDoc.model_validate(fields)
    except ValueError as exc:
        raise RequestError(f"cannot roll back {stack!r}: {exc}") from None
    return IntentFile(name=f"rollback-{name}" + (f"-{host}" if host else ""), path=compose,
                      description=f"chatops rollback {stack}", documents=(doc,))


def rollback_plan(store: RunStore, settings: Settings, stack: str,
                  service: str | None = None) -> tuple[IntentFile, Plan]:
    """The rollback intent of ``stack`` and its plan (the snapshot's compose file)."""
    intent = rollback_intent(store, stack, service)
    return intent, build_plan(intent, PlanContext(
        repo=GitOpsRepo(intent.path.parent), compose_command=settings.compose_command,
        rollback=True, stable_for=settings.stability_window, hosts=settings.hosts,
        state_dir=settings.state_dir))
