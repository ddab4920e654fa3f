"""The operator's hooks around a step: run on the host, each with its timeout (the whole
process group is killed at it), its output in the run log, and a documented environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chatops.planning.steps import StepPlan

if TYPE_CHECKING:
    from chatops.runner.state import StepIO


def images(snapshot: dict[str, Any] | None, *, old: bool) -> str:
    """The image references of a snapshot: what ran before (``old``), or what the compose
    file asks for. One service: its reference; several: ``service=reference`` pairs."""
    if not snapshot:
        return ""
    pairs = []
    for service, entry in sorted((snapshot.get("services") or {}).items()):
        if old:
            running = [c for c in entry.get("containers") or [] if c.get("state") == "running"]
            ref = (running or entry.get("containers") or [{}])[0].get("image_ref") or ""
        else:
            ref = entry.get("image_ref") or ""
        pairs.append((service, ref))
    if len(pairs) == 1:
        return pairs[0][1]
    return " ".join(f"{service}={ref}" for service, ref in pairs)


def hook_env(ex: StepIO, run_id: str, intent: str, step: StepPlan, *,
             before: dict[str, Any] | None, outcome: str | None = None) -> dict[str, str]:
    run = ex.run_context(run_id)
    env = {
        "CHATOPS_INTENT": intent, "CHATOPS_STACK": step.stack,
        "CHATOPS_SERVICE": step.service or "", "CHATOPS_ACTION": step.action,
        "CHATOPS_STRATEGY": "canary" if step.canary is not None else
        "blue-green" if step.blue_green is not None else "recreate",
        "CHATOPS_SHA": run.get("sha") or "", "CHATOPS_RUN_ID": run_id,
        "CHATOPS_ACTOR": run.get("actor") or "",
        "CHATOPS_OLD_IMAGE": images(before, old=True),
        "CHATOPS_NEW_IMAGE": images(before, old=False),
    }
    if outcome is not None:
        env["CHATOPS_OUTCOME"] = outcome
    return env


async def run_hooks(ex: StepIO, run_id: str, intent: str, step: StepPlan, *, kind: str,
                    env: dict[str, str]) -> str | None:
    """Run the step's ``kind`` hooks in order, stopping at the first that fails; why it
    failed, or None."""
    for cmd in step.hooks_of(kind):
        result = await ex.command(run_id, intent, step, cmd, f"hook {kind}", cmd.argv,
                                   env=env, cwd=str(step.workdir) if step.workdir else None)
        if not result.ok:
            return f"{kind} hook {cmd.argv[0]} failed: {result.describe()}"
    return None
