"""Many intents at once: a dependency graph run with bounded parallelism.

The named intents plus everything they depend on run once each; an intent starts when all
its dependencies succeeded; independent branches run side by side (the stack locks still
keep one stack to one run at a time). A failure skips everything that depends on it, and
with ``stop_on_failure`` nothing new starts after it, while runs already going finish.
One parent record holds the children.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence

from msgspec import Struct, field

from chatops.errors import ChatopsError, GraphError
from chatops.intents.graph import find_cycles
from chatops.intents.loader import IntentFile
from chatops.runner.executor import RunOutcome
from chatops.store.records import RunStatus

Start = Callable[[str], Awaitable[RunOutcome]]


def closure(names: Sequence[str], load: Callable[[str], IntentFile]
            ) -> dict[str, IntentFile]:
    """The named intents and everything they depend on, loaded; refuses cycles."""
    found: dict[str, IntentFile] = {}
    todo = list(dict.fromkeys(names))
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found[name] = load(name)  # an unknown name raises IntentNotFoundError
        todo.extend(d for d in found[name].depends_on if d not in found)
    cycles = find_cycles({n: i.depends_on for n, i in found.items()})
    if cycles:
        raise GraphError("dependency cycle: " + " -> ".join(cycles[0]))
    return found


class Node(Struct):
    name: str
    deps: tuple[str, ...]
    status: str = "pending"  # pending, running, or a run status, or skipped
    run_id: str | None = None
    reason: str | None = None


class Summary(Struct):
    nodes: dict[str, Node] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        statuses = [n.status for n in self.nodes.values()]
        return {
            "total": len(statuses),
            "succeeded": statuses.count("succeeded"),
            "rolled_back": statuses.count("rolled_back"),
            "failed": statuses.count("failed") + statuses.count("rollback_failed"),
            "skipped": statuses.count("skipped"),
            "interrupted": statuses.count("interrupted"),
        }

    def status(self) -> RunStatus:
        c = self.counts()
        if c["succeeded"] == c["total"]:
            return RunStatus.succeeded
        if c["interrupted"]:
            return RunStatus.interrupted
        if any(n.status == "rollback_failed" for n in self.nodes.values()):
            return RunStatus.rollback_failed
        if c["failed"] or c["skipped"]:
            return RunStatus.failed
        return RunStatus.rolled_back

    def text(self) -> str:
        c = self.counts()
        return (f"{c['total']} intents: {c['succeeded']} succeeded, {c['rolled_back']} rolled "
                f"back, {c['failed']} failed, {c['skipped']} skipped"
                + (f", {c['interrupted']} interrupted" if c["interrupted"] else ""))


async def orchestrate(intents: Mapping[str, IntentFile], start: Start, *,
                      max_parallel: int, stop_on_failure: bool = True,
                      on_change: Callable[[Node], None] | None = None) -> Summary:
    """Run the graph; ``start(name)`` runs one intent and returns its outcome."""
    summary = Summary({n: Node(n, tuple(d for d in i.depends_on if d in intents))
                       for n, i in intents.items()})
    nodes = summary.nodes
    slots = asyncio.Semaphore(max_parallel)
    stopped = False
    running: dict[str, asyncio.Task[RunOutcome]] = {}

    def changed(node: Node) -> None:
        if on_change is not None:
            on_change(node)

    def skip_dependents(failed: str, why: str) -> None:
        for node in nodes.values():
            if node.status == "pending" and failed in _ancestors(node.name, nodes):
                node.status, node.reason = "skipped", why
                changed(node)

    async def one(name: str) -> RunOutcome:
        async with slots:
            nodes[name].status = "running"
            changed(nodes[name])
            return await start(name)

    try:
        while True:
            if not stopped:
                for node in nodes.values():
                    if node.status == "pending" and node.name not in running and all(
                            nodes[d].status == "succeeded" for d in node.deps):
                        running[node.name] = asyncio.ensure_future(one(node.name))
            if not running:
                break
            done, _ = await asyncio.wait(running.values(), return_when=asyncio.FIRST_COMPLETED)
            for name, task in list(running.items()):
                if task not in done:
                    continue
                del running[name]
                node = nodes[name]
                try:
                    outcome = task.result()
                    node.status, node.run_id = str(outcome.status), outcome.run_id
                    node.reason = outcome.reason
                except ChatopsError as exc:
                    node.status, node.reason = "failed", exc.message
                changed(node)
                if node.status != "succeeded":
                    skip_dependents(name, f"dependency {name} ended {node.status}")
                    if stop_on_failure:
                        stopped = True
        for node in nodes.values():
            if node.status == "pending":
                node.status = "skipped"
                node.reason = node.reason or "not started: an earlier intent failed"
                changed(node)
    except asyncio.CancelledError:
        for task in running.values():
            task.cancel()
        await asyncio.gather(*running.values(), return_exceptions=True)
        for node in nodes.values():
            if node.status in ("pending", "running"):
                node.status, node.reason = "interrupted", "the orchestration was stopped"
        raise
    return summary


def _ancestors(name: str, nodes: Mapping[str, Node]) -> set[str]:
    seen: set[str] = set()
    todo = list(nodes[name].deps)
    while todo:
        dep = todo.pop()
        if dep not in seen:
            seen.add(dep)
            todo.extend(nodes[dep].deps)
    return seen
