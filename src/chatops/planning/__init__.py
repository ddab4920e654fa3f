"""Planning: an intent to the exact steps a run would take. Pure: no I/O, no clock.

The names below are imported when first used, so a module that needs one small part
(``planning.binds`` for ``chatops validate``) does not load the planner and its settings.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chatops.planning.planner import PlanContext, build_plan
    from chatops.planning.steps import Command, Gate, Plan, RollbackPlan, StepPlan

_WHERE = {"PlanContext": "planner", "build_plan": "planner", "Command": "steps",
          "Gate": "steps", "Plan": "steps", "RollbackPlan": "steps", "StepPlan": "steps"}

__all__ = ["Command", "Gate", "Plan", "PlanContext", "RollbackPlan", "StepPlan", "build_plan"]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
