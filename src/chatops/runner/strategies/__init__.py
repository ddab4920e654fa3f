"""How a planned step runs: one module a way, each registered once by the name the
planner gives the step (``StepPlan.runs_as``).

A strategy's module is named after it (``blue-green`` is ``blue_green.py``) and imported
when a step first runs that way, so a run that recreates loads neither proxies nor slots;
``registered()`` imports them all (the docs' table, the tests). Each module registers its
way of running, so a new strategy is one module here plus its name in the intent
contract. A strategy depends on ``runner.state`` (the executor's services as an
interface), never on the executor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from msgspec import Struct

from chatops.kinds import import_all, import_kind
from chatops.store.records import RunStatus

if TYPE_CHECKING:
    from chatops.planning.steps import StepPlan
    from chatops.runner.state import StepIO, StepState

#: What a step ended as, and why (what it ran before it changed anything is left in its
#: ``StepState.before``, for the ``on_failure`` hooks).
Outcome = tuple[RunStatus, str]


class Strategy(Struct, frozen=True, kw_only=True):
    name: str  # ``StepPlan.runs_as``
    summary: str  # one line for the docs' registry table (docs/layout.md)
    run: Callable[[StepIO, str, str, StepState], Awaitable[Outcome]]


REGISTRY: dict[str, Strategy] = {}


def register(strategy: Strategy) -> Strategy:
    if strategy.name in REGISTRY:
        raise ValueError(f"a strategy {strategy.name!r} is registered already")
    REGISTRY[strategy.name] = strategy
    return strategy


def strategy_for(step: StepPlan) -> Strategy:
    """The way ``step`` runs, its module imported on first use."""
    if step.runs_as not in REGISTRY:
        import_kind(__name__, step.runs_as)
    return REGISTRY[step.runs_as]


def registered() -> dict[str, Strategy]:
    """Every strategy, each module imported (and registering itself) once."""
    import_all(__name__)
    return REGISTRY


__all__ = ["REGISTRY", "Outcome", "Strategy", "register", "registered", "strategy_for"]
