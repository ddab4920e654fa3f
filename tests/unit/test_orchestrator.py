"""Graph runs: dependencies first, independent branches together, failures contained."""

from __future__ import annotations

import asyncio

import pytest

from chatops.errors import GraphError, IntentNotFoundError
from chatops.intents.loader import parse_intent
from chatops.runner.executor import RunOutcome
from chatops.runner.orchestrator import closure, orchestrate
from chatops.store.records import RunStatus


def intent(name: str, *deps: str):
    text = f"label_required: l\naction: up\nstack: {name.replace('_', '-')}\n"
    if deps:
        text += f"depends_on: [{', '.join(deps)}]\n"
    return parse_intent(text, label=f"{name}.yaml", name=name)


GRAPH = {"a": intent("a"), "b": intent("b"), "c": intent("c", "a"), "d": intent("d", "c"),
         "e": intent("e", "b")}


def fake_start(fail: dict[str, RunStatus], log: list[str], active: list[int],
               delay: float = 0.01):
    peak = [0]

    async def start(name: str) -> RunOutcome:
        active.append(1)
        peak[0] = max(peak[0], len(active))
        log.append(f"start {name}")
        await asyncio.sleep(delay)
        active.pop()
        log.append(f"end {name}")
        status = fail.get(name, RunStatus.succeeded)
        return RunOutcome(f"run-{name}", status, None if status is RunStatus.succeeded
                          else "it broke")

    return start, peak


def run(fail: dict[str, RunStatus], *, max_parallel: int = 4, stop: bool = False,
        graph=GRAPH):
    log: list[str] = []
    start, peak = fake_start(fail, log, [])
    summary = asyncio.run(orchestrate(graph, start, max_parallel=max_parallel,
                                      stop_on_failure=stop))
    return summary, log, peak[0]


def test_dependencies_run_first_and_all_succeed() -> None:
    summary, log, _ = run({})
    assert summary.status() is RunStatus.succeeded
    assert log.index("end a") < log.index("start c") < log.index("end c") < log.index("start d")
    assert log.index("end b") < log.index("start e")
    assert summary.counts() == {"total": 5, "succeeded": 5, "rolled_back": 0, "failed": 0,
                                "skipped": 0, "interrupted": 0}


def test_a_failure_skips_its_dependents_and_others_finish() -> None:
    summary, log, _ = run({"c": RunStatus.rolled_back})
    nodes = summary.nodes
    assert (nodes["c"].status, nodes["d"].status, nodes["e"].status) == (
        "rolled_back", "skipped", "succeeded")
    assert nodes["d"].reason == "dependency c ended rolled_back"
    assert "start d" not in log
    assert summary.text() == "5 intents: 3 succeeded, 1 rolled back, 0 failed, 1 skipped"
    assert summary.status() is RunStatus.failed


def test_stop_on_failure_starts_nothing_new_but_lets_running_ones_finish() -> None:
    graph = {"a": intent("a"), "slow": intent("slow"), "later": intent("later", "slow")}
    log: list[str] = []

    async def start(name: str) -> RunOutcome:
        log.append(f"start {name}")
        await asyncio.sleep(0.05 if name == "slow" else 0.0)
        log.append(f"end {name}")
        status = RunStatus.failed if name == "a" else RunStatus.succeeded
        return RunOutcome(name, status, None)

    summary = asyncio.run(orchestrate(graph, start, max_parallel=4, stop_on_failure=True))
    assert "end slow" in log  # already running: it finishes
    assert "start later" not in log
    assert summary.nodes["later"].status == "skipped"


def test_parallelism_is_bounded() -> None:
    graph = {f"s{i}": intent(f"s{i}") for i in range(6)}
    _, _, peak = run({}, max_parallel=2, graph=graph)
    assert peak == 2
    _, _, peak = run({}, max_parallel=6, graph=graph)
    assert peak == 6


def test_closure_adds_dependencies_and_refuses_unknown_and_cycles() -> None:
    library = {"a": intent("a"), "c": intent("c", "a"), "x": intent("x", "y"),
               "y": intent("y", "x")}

    def load(name: str):
        if name not in library:
            raise IntentNotFoundError(name, f"no intent named {name!r}")
        return library[name]

    assert set(closure(["c"], load)) == {"a", "c"}
    with pytest.raises(IntentNotFoundError, match="no intent named 'nope'"):
        closure(["nope"], load)
    with pytest.raises(GraphError, match="dependency cycle: x -> y -> x"):
        closure(["x"], load)
