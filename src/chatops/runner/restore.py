"""The recreate path's way back: after a failed change, the snapshot's images re-tagged
and their replica counts recreated, then checked by the same health gates; and the
``rollback`` action's target, one good deploy back in the run history."""

from __future__ import annotations

from typing import Any

from chatops import events as ev
from chatops.errors import EngineError
from chatops.planning import compose as c
from chatops.planning.steps import Command, StepPlan
from chatops.runner.snapshot import current_images
from chatops.runner.state import StepFailedError, StepIO, StepState
from chatops.store.records import RunStatus


async def after_failure(ex: StepIO, run_id: str, intent: str, state: StepState, reason: str
                         ) -> tuple[RunStatus, str]:
    step = state.step
    if not state.changed:
        return RunStatus.failed, f"{reason} (nothing was changed)"
    if step.rollback is None or state.before is None or state.project is None:
        return RunStatus.failed, f"{reason} (rollback is off: the change was left in place)"
    ex.emit(run_id, intent, ev.ROLLBACK_STARTED, reason=reason, **step_fields(step))
    try:
        problem = await restore(ex, run_id, intent, state, state.before)
    except (EngineError, StepFailedError) as exc:
        problem = exc.message
    if problem is None:
        return RunStatus.rolled_back, (
            f"{reason}; rolled back to the previous images, which pass the health gates")
    return RunStatus.rollback_failed, f"{reason}; rollback failed: {problem}"

def restore_argv(compose_command: tuple[str, ...], state: StepState, replicas: dict[str, int]
                 ) -> tuple[str, ...]:
    keep = {s: n for s, n in replicas.items() if n > 0}
    return c.restore(compose_command, state.step.compose, keep)

async def retag(ex: StepIO, run_id: str, intent: str, state: StepState,
                 target: dict[str, Any]) -> None:
    assert state.project is not None  # noqa: S101 - set by _prepare
    for svc in state.services:
        entry = target["services"].get(svc) or {}
        image_id = entry.get("image_id")
        if not image_id or not entry.get("replicas"):
            continue
        ref = state.project.services[svc].image
        if await ex.engine.image_id(image_id) is None:
            raise StepFailedError(f"image {image_id[:19]} of {svc} is no longer on this host")
        async with ex.recorded(run_id, state.step, "retag",
                                 f"tag {image_id[:19]} as {ref}",
                                 ["engine-api", "tag", image_id, ref]):
            await ex.engine.tag(image_id, ref)

async def restore(ex: StepIO, run_id: str, intent: str, state: StepState,
                   target: dict[str, Any]) -> str | None:
    """Put ``target``'s images and replica counts back, then check health again."""
    step = state.step
    await retag(ex, run_id, intent, state, target)
    replicas = {s: int((target["services"].get(s) or {}).get("replicas") or 0)
                for s in state.services}
    timeout = step.timeout
    if any(n > 0 for n in replicas.values()):
        argv = restore_argv(ex.compose_command, state, replicas)
        cmd = Command(argv, "recreate on the previous images", timeout, True)
        result = await ex.command(run_id, intent, step, cmd, "rollback", argv)
        if not result.ok:
            return f"{' '.join(argv[:6])} ... failed: {result.describe()}"
    gone = sorted(s for s, n in replicas.items() if n == 0)
    if gone:
        argv = c.remove(ex.compose_command, step.compose, gone)
        cmd = Command(argv, "remove services that did not run before", timeout, True)
        result = await ex.command(run_id, intent, step, cmd, "rollback", argv)
        if not result.ok:
            return f"removing {', '.join(gone)} failed: {result.describe()}"
    return await ex.gates(run_id, intent, state, "rollback", expected=replicas)


def target_replicas(state: StepState) -> dict[str, int]:
    target = state.target or {"services": {}}
    return {s: int((target["services"].get(s) or {}).get("replicas") or 0)
            for s in state.services}

async def retag_to_last_good(ex: StepIO, run_id: str, intent: str, state: StepState) -> None:
    """Step back one deploy in the history of succeeded runs.

    The history is what succeeded deploys left running (rollbacks themselves are
    not deploys, so rolling back twice goes back twice instead of toggling). The
    target is the newest entry older than the one running now whose images differ.
    """
    step = state.step
    assert state.before is not None  # noqa: S101 - rollback steps always snapshot
    now = current_images(state.before)
    wanted = set(state.services)

    def images_of(snap: dict[str, Any]) -> dict[str, Any]:
        return {s: e.get("image_id") for s, e in snap["services"].items() if s in wanted}

    history = [(rid, snap) for rid, snap in ex.store.good_snapshots(step.stack)
               if rid != run_id and snap.get("action") != "rollback"
               and any(images_of(snap).values())]
    current = next((i for i, (_, snap) in enumerate(history)
                    if all(v == now.get(s) for s, v in images_of(snap).items())), None)
    candidates = history if current is None else history[current + 1:]
    for source_run, snap in candidates:
        images = images_of(snap)
        if all(images.get(s) == now.get(s) for s in images):
            continue
        state.target = snap
        state.services = [s for s in state.services if s in images]
        ex.note(run_id, intent,
                  f"returning {step.stack} to the images of run {source_run}")
        await retag(ex, run_id, intent, state, snap)
        state.changed = True
        ex.store.mark_changed(run_id)
        return
    raise StepFailedError(
        f"no succeeded run of stack {step.stack} left images different from the ones "
        "running now; nothing to roll back to"
    )


def step_fields(step: StepPlan) -> dict[str, Any]:
    return {"action": step.action, "stack": step.stack, "service": step.service,
            "doc": step.index, "docs": step.count}
