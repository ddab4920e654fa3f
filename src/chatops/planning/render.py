"""A plan for people (text) and for machines (JSON-ready dicts)."""

from __future__ import annotations

import shlex
from typing import Any

from chatops.durations import format_duration
from chatops.planning.steps import Command, Gate, Plan, StepPlan


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "intent": plan.intent,
        "description": plan.description,
        "depends_on": list(plan.depends_on),
        "notify": list(plan.notify),
        "notify_on": list(plan.notify_on),
        "steps": [_step_dict(s) for s in plan.steps],
        **({"approval": plan.approval} if plan.approval else {}),
        **({"uses": list(plan.uses)} if plan.uses else {}),
        **({"secrets": [{"file": f, "holds": w} for f, w in plan.secrets]}
           if plan.secrets else {}),
    }


def _command_dict(cmd: Command) -> dict[str, Any]:
    return {
        "argv": list(cmd.argv),
        "description": cmd.description,
        "timeout_seconds": cmd.timeout,
        "mutating": cmd.mutating,
    }


def _gate_dict(gate: Gate) -> dict[str, Any]:
    return {
        "kind": gate.kind,
        "description": gate.description,
        "within_seconds": gate.within,
        "implicit": gate.implicit,
        "check": gate.check.model_dump(mode="json"),
    }


def _step_dict(step: StepPlan) -> dict[str, Any]:
    return {
        "doc": step.index,
        "docs": step.count,
        "action": step.action,
        "stack": step.stack,
        "service": step.service,
        "host": step.host,
        "engine": "swarm" if step.swarm else "compose",
        "compose": str(step.compose),
        "label_required": step.label_required,
        "timeout_seconds": step.timeout,
        "resolve": step.resolve,
        "retag": step.retag,
        "snapshot": step.snapshot,
        "commands": [_command_dict(c) for c in step.commands],
        "health": [_gate_dict(g) for g in step.gates],
        "strategy": step.strategy,
        "runs_as": step.runs_as,
        "hooks": [{"when": kind, **_command_dict(cmd)} for kind, cmd in step.hooks],
        "rollback_on_hook_failure": step.rollback_on_hook_failure,
        "env": [name for name, _ in step.env],
        "blue_green": None if step.blue_green is None else {
            "traffic": step.blue_green.traffic.model_dump(mode="json"),
            "projects": step.blue_green.projects,
            "switch": step.blue_green.switch,
            "phases": list(step.blue_green.phases),
        },
        "rollback": None if step.rollback is None else {
            "description": step.rollback.description,
            "retag": step.rollback.retag,
            "commands": [_command_dict(c) for c in step.rollback.commands],
            "health_again": step.rollback.regate,
        },
    }


def show_argv(argv: tuple[str, ...]) -> str:
    """Shell-quoted for copying, except the ``<placeholders>`` filled in at run time."""
    return " ".join(
        a if a.startswith("<") and a.endswith(">") else shlex.quote(a) for a in argv
    )


def render_text(plan: Plan) -> str:
    return render_plan(plan_to_dict(plan))


def _step_head(step: dict[str, Any]) -> list[str]:
    """A step's first lines: what, where, with which file."""
    target = f", service {step['service']}" if step.get("service") else ""
    out = ["", f"Step {step['doc']}/{step['docs']}: {step['action']} on {step['stack']}"
           f"{target} (label {step['label_required']})",
           f"  compose file: {step['compose']}"]
    if step.get("host"):
        out.append(f"  on host {step['host']}: every engine call and command of this step "
                   "goes there")
    if step.get("engine") == "swarm":
        out.append("  engine: swarm (docker stack deploy on this machine's engine)")
    return out


def render_plan(plan: dict[str, Any]) -> str:
    """The dry run as text, from the plan as ``plan_to_dict`` (or the API) gives it."""
    steps = plan.get("steps") or []
    n = len(steps)
    out = [f"Plan for intent {plan['intent']} ({n} step{'s' if n != 1 else ''}; dry run, "
           "nothing is changed)"]
    if plan.get("description"):
        out += ["  " + line if line else "" for line in plan["description"].splitlines()]
    if plan.get("depends_on"):
        out.append("Depends on: " + ", ".join(plan["depends_on"]))
    approval = plan.get("approval")
    if approval:
        who = ", ".join(approval.get("approvers") or []) or "anyone with the approve scope"
        out.append(f"Waits for {approval['min']} approval(s) from {who} (for "
                   f"{format_duration(approval['ttl'])}; self-approval "
                   f"{'allowed' if approval.get('self_approve') else 'refused'})")
    for step in steps:
        out += _step_head(step)
        if step.get("resolve"):
            out.append(f"  looks up: {step['resolve']}")
        if step.get("retag"):
            out.append(f"  re-tags: {step['retag']}")
        if step.get("snapshot"):
            out.append("  snapshot first: containers, image IDs, replica counts, compose file hash")
        for i, cmd in enumerate(step.get("commands") or [], start=1):
            out.append(f"  {i}. $ {show_argv(tuple(cmd['argv']))}")
            out.append(f"       {cmd['description']}; timeout "
                       f"{format_duration(cmd['timeout_seconds'])}")
        if step.get("env"):
            out.append("  sets for its commands and hooks: " + ", ".join(step["env"]))
        for hook in step.get("hooks") or []:
            out.append(f"  hook {hook['when']}: $ {show_argv(tuple(hook['argv']))}")
            out.append(f"       {hook['description']}; timeout "
                       f"{format_duration(hook['timeout_seconds'])}"
                       + ("; a failure rolls back" if hook["when"] == "post_deploy" and
                          step.get("rollback_on_hook_failure") else ""))
        blue_green = step.get("blue_green")
        if blue_green:
            out.append(f"  {step.get('strategy', 'blue-green')}, then:")
            out += [f"    - {phase}" for phase in blue_green["phases"]]
        if step.get("health"):
            out.append("  health gates:")
            out += [f"    - {g['description']}" for g in step["health"]]
        else:
            out.append("  health gates: none")
        rollback = step.get("rollback")
        if rollback is None:
            out.append("  on failure: stop here, no rollback")
        else:
            out.append(f"  on failure: roll back: {rollback['description']}")
            if rollback.get("retag"):
                out.append(f"    re-tags: {rollback['retag']}")
            for i, cmd in enumerate(rollback.get("commands") or [], start=1):
                out.append(f"    {i}. $ {show_argv(tuple(cmd['argv']))}")
            if rollback.get("health_again"):
                out.append("    then the health gates again")
    if n > 1:
        out.append("")
        out.append("Steps run in order; the first failure stops the run.")
    return "\n".join(out + _files(plan)) + "\n"


def _files(plan: dict[str, Any]) -> list[str]:
    """The repository files the intent uses, and those that hold secrets (by name)."""
    out: list[str] = []
    if plan.get("uses"):
        out += ["", "Uses these repository files (a change to any of them deploys this "
                "intent, and needs its label):"]
        out += [f"  {path}" for path in plan["uses"]]
    if plan.get("secrets"):
        out += ["", "Secrets it opens when it runs (names only; decrypted onto a tmpfs for "
                "the step, never written to disk):"]
        out += [f"  {s['file']}: {s['holds']}" for s in plan["secrets"]]
    return out
