"""Reconcile: a drift pass on an interval, and what each intent's ``reconcile`` says to
do about it.

- ``alert`` (the default): a stack's drift is told once to every notification target and
  recorded in the audit trail, again only when it changes, and once when it is resolved;
- ``heal``: told as well, then the stack's intent is run again at the commit its last
  good run deployed (every check of a run applies: approval, windows, freezes), once per
  drift, and only for what a run can put back (``HEALABLE``: containers missing,
  replaced, or too few or many); never after a failed or rolled-back run, so a bad
  commit is never redeployed, and never for a tag re-pushed in its registry;
- ``off``: nothing.

The repository's own drift (the checkout, undeployed commits, the fetch) is told like a
stack's.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from chatops.application.asks import RunAsk
from chatops.application.caller import Caller
from chatops.application.polling import Polling
from chatops.engine.base import Engine
from chatops.errors import ChatopsError
from chatops.notify.messages import drift_message

if TYPE_CHECKING:  # the drift pass (and the overview it reads) loads with its first pass
    from chatops.application.drift import Drift

HEALABLE = frozenset({"missing", "replicas", "image"})
REPOSITORY = "(repository)"
#: Kinds whose words change from pass to pass (a duration, an engine's error): told once.
TOLD_BY_KIND = frozenset({"fetch", "unknown"})


def signature(items: list[Drift]) -> frozenset[str]:
    return frozenset(d.kind if d.kind in TOLD_BY_KIND else f"{d.kind}: {d.message}"
                     for d in items)


class Reconciling(Polling):
    def __post_init__(self) -> None:
        super().__post_init__()
        self._told: dict[str, frozenset[str]] = {}
        self._healed: dict[str, frozenset[str]] = {}

    def _modes(self) -> dict[str, tuple[str, list[str]]]:
        """Each stack's mode (the strongest its intents ask: heal, alert, off) and the
        intents that heal it."""
        order = {"off": 0, "alert": 1, "heal": 2}
        modes: dict[str, tuple[str, list[str]]] = {}
        for path in self.ctx.repo.intent_files():
            try:
                intent = self.ctx.load(path.stem)
            except ChatopsError:
                continue
            for doc in intent.documents:
                hosts: list[str | None] = [*doc.hosts] or [doc.host]
                for host in hosts:
                    key = doc.stack if host is None else f"{doc.stack}@{host}"
                    mode, healers = modes.get(key, ("off", []))
                    if order[doc.reconcile] > order[mode]:
                        mode = doc.reconcile
                    if doc.reconcile == "heal" and doc.action in ("rollout", "up") \
                            and intent.name not in healers:
                        healers = [*healers, intent.name]
                    modes[key] = (mode, healers)
        return modes

    async def reconcile(self, caller: Caller, engine: Engine) -> list[Drift]:
        """One pass: every drift found, told (and healed) as each stack's intents say."""
        from chatops.application.drift import KINDS, drift_report  # noqa: PLC0415

        found = await drift_report(self.ctx.repo, self.store, engine, self.ctx.sync(),
                                   self.fetches)
        self.ctx.queue.metrics.drifted([d.kind for d in found], KINDS)
        modes = self._modes()
        by_key: dict[str, list[Drift]] = {}
        for d in found:
            by_key.setdefault(d.stack or REPOSITORY, []).append(d)
        for key in sorted(set(by_key) | set(self._told)):
            if key != REPOSITORY and self.ctx.queue.busy([key]):
                continue  # a run holds it: what differs now is the run's doing
            items = by_key.get(key, [])
            mode, healers = modes.get(key, ("alert" if key == REPOSITORY else "off", []))
            now = signature(items)
            if mode == "off" or now == self._told.get(key, frozenset()):
                continue
            healing = self._heal_plan(key, items, healers, now) if mode == "heal" else None
            where = "the repository" if key == REPOSITORY else f"stack {key}"
            self.announce(drift_message(where, [(d.kind, d.message) for d in items],
                                        healing=healing), "drift")
            self._record(caller, "drift" if items else "drift_resolved", 200,
                         reason=f"{where}: " + ("; ".join(f"{d.kind}: {d.message}"
                                                          for d in items) or "resolved"))
            if items:
                self._told[key] = now
            else:
                self._told.pop(key, None)
            if healing is not None and healing.startswith("running "):
                self._healed[key] = now
                with contextlib.suppress(ChatopsError):  # refused: recorded by the run
                    await self.run(caller, RunAsk(name=healers[0],
                                                  sha=self.store.deployed_sha(healers[0])))
        return found

    def _heal_plan(self, key: str, items: list[Drift], healers: list[str],
                   now: frozenset[str]) -> str | None:
        """What heal does about this drift, in words: ``running ...`` when it runs."""
        kinds = {d.kind for d in items}
        if not items or not kinds & HEALABLE:
            return None
        if self._healed.get(key) == now:
            return "not again: this drift was healed once already"
        if "run" in kinds or (any(d.kind == "image" and "registry" in d.message
                                  for d in items)):
            return ("not healed: its last run did not succeed, or a tag moved in its "
                    "registry; a person decides")
        if not healers:
            return "not healed: no rollout intent of this stack says reconcile: heal"
        return f"running {healers[0]} again at the commit it last deployed"
