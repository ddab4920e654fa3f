"""Planning: an intent to the exact steps a run would take. Pure: no I/O, no clock."""

from chatops.planning.planner import PlanContext, build_plan
from chatops.planning.steps import Command, Gate, Plan, RollbackPlan, StepPlan

__all__ = ["Command", "Gate", "Plan", "PlanContext", "RollbackPlan", "StepPlan", "build_plan"]
