"""A step's health gates, run together: each registered kind's check at once, the first
failure stopping the others, every result recorded and told. With HTTP or TCP gates
(probes), the implicit container gate watches for exits and restarts meanwhile instead of
adding its own stability window."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, Protocol

from chatops import events as ev
from chatops.clock import Clock
from chatops.engine.base import Engine
from chatops.health import REGISTRY
from chatops.health.registry import GateContext, GateResult
from chatops.planning.steps import Gate
from chatops.runner import restore
from chatops.runner.state import StepState
from chatops.store.sqlite import RunStore


class GateHost(Protocol):
    """What running gates needs of the executor."""

    clock: Clock
    engine: Engine
    store: RunStore
    kuma_url: str | None

    def emit(self, run_id: str, intent: str, event_kind: str, **data: Any) -> None: ...


def _gate_task(ex: GateHost, state: StepState, gate: Gate, expected: dict[str, int],
               others_passed: asyncio.Event | None = None) -> Awaitable[GateResult]:
    assert state.project is not None  # noqa: S101 - set by _prepare
    project = state.project
    return REGISTRY[gate.kind].run(gate.check, GateContext(
        clock=ex.clock, engine=ex.engine, description=gate.description,
        since=ex.clock.now(), kuma_url=ex.kuma_url, project=project.name,
        services=list(state.services), expected=expected,
        spec={name: spec.replicas for name, spec in project.services.items()},
        implicit=gate.implicit, others_passed=others_passed if gate.implicit else None))

def expected_replicas(state: StepState) -> dict[str, int]:
    assert state.project is not None  # noqa: S101 - set by _prepare
    if (step := state.step).action == "scale" and step.service and step.replicas is not None:
        return {step.service: step.replicas}
    if step.action == "rollback":
        return restore.target_replicas(state)
    return {s: state.project.services[s].replicas for s in state.services}

async def run_gates(ex: GateHost, run_id: str, intent: str, state: StepState, *,
                    phase: str, expected: dict[str, int] | None = None) -> str | None:
    """Run every gate at once; return why the step failed, or None."""
    gates = state.step.gates
    if not gates:
        return None
    expected = expected if expected is not None else expected_replicas(state)
    for gate in gates:
        ex.emit(run_id, intent, ev.GATE_STARTED, description=gate.description,
                   phase=phase, kind=gate.kind)
    # With HTTP or TCP gates, they prove the service works: the implicit container
    # gate watches for exits and restarts meanwhile instead of adding its own window.
    probes = [g for g in gates if REGISTRY[g.kind].probe]
    others_passed = asyncio.Event() if probes else None
    tasks = {asyncio.ensure_future(_gate_task(ex, state, g, expected, others_passed)): i
             for i, g in enumerate(gates)}
    results: dict[int, GateResult] = {}
    pending = set(tasks)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            results[tasks[task]] = task.result()
        if any(not r.ok for r in results.values()):
            for task in pending:  # one failed gate fails the step: stop waiting
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            pending = set()
        elif others_passed is not None and all(
                i in results for i, g in enumerate(gates) if g in probes):
            others_passed.set()
    failed: list[str] = []
    for i, gate in enumerate(gates):
        result = results.get(i) or GateResult(
            gate.kind, gate.description, False, "stopped: another gate failed first", 0.0)
        ex.store.add_gate(run_id, doc=state.step.index, phase=phase, kind=result.kind,
                            description=result.description, ok=result.ok,
                            detail=result.detail, duration=result.duration)
        ex.emit(run_id, intent, ev.GATE_FINISHED, description=gate.description,
                   phase=phase, ok=result.ok, detail=result.detail, kind=gate.kind)
        if not result.ok and i in results:
            failed.append(f"health gate failed: {result.detail}")
    return "; ".join(failed) if failed else None
