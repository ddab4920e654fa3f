"""The operator's hooks around a step: run on the host, each with its timeout (the whole
process group is killed at it), its output in the run log, and a documented environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chatops.planning.steps import StepPlan
from chatops.runner.state import StepFailedError, StepState

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
            ref = entry.get("wanted_ref") or entry.get("image_ref") or ""
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
        "CHATOPS_STRATEGY": step.strategy,
        "CHATOPS_SHA": run.get("sha") or "", "CHATOPS_RUN_ID": run_id,
        "CHATOPS_ACTOR": run.get("actor") or "",
        "CHATOPS_OLD_IMAGE": images(before, old=True),
        "CHATOPS_NEW_IMAGE": images(before, old=False),
    }
    if outcome is not None:
        env["CHATOPS_OUTCOME"] = outcome
    if run.get("secrets_dir"):  # the step's decrypted files, while it runs
        env["CHATOPS_SECRETS_DIR"] = str(run["secrets_dir"])
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


async def before_change(ex: StepIO, run_id: str, intent: str, state: StepState) -> None:
    """The step's ``pre_deploy`` hooks; the first that fails vetoes the step."""
    step = state.step
    vetoed = await run_hooks(ex, run_id, intent, step, kind="pre_deploy",
                             env=hook_env(ex, run_id, intent, step, before=state.before))
    if vetoed:
        raise StepFailedError(vetoed)


async def after_change(ex: StepIO, run_id: str, intent: str, state: StepState) -> str | None:
    """The step's ``post_deploy`` hooks: a failure fails the step when
    ``rollback_on_hook_failure`` says so; otherwise it is returned, to be told."""
    step = state.step
    failed = await run_hooks(ex, run_id, intent, step, kind="post_deploy",
                             env=hook_env(ex, run_id, intent, step, before=state.before))
    if failed and step.rollback_on_hook_failure:
        raise StepFailedError(failed)
    return failed
