"""Recreate: pull, then ``docker compose up`` the changed services in place; health gates
judge them; a failure puts back the images of the snapshot taken before the change."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from chatops.errors import EngineError
from chatops.runner.hooks import hook_env, run_hooks
from chatops.runner.snapshot import take_snapshot
from chatops.runner.state import StepFailedError, StepState
from chatops.runner.strategies import Outcome, Strategy, register
from chatops.store.records import RunStatus

if TYPE_CHECKING:
    from chatops.runner.state import StepIO


async def dropped(task: asyncio.Future[Any] | None) -> None:
    """Cancel a snapshot that is no longer wanted, and let it end."""
    if task is not None and not task.done():
        task.cancel()
    if task is not None:
        await asyncio.gather(task, return_exceptions=True)


async def run(ex: StepIO, run_id: str, intent: str, state: StepState) -> Outcome:
    step = state.step
    # Commands before the first change (a rollout's pull) run while Compose reads
    # the file: neither touches what is running, and the step gets faster.
    lead = 0
    while lead < len(step.commands) and not step.commands[lead].mutating:
        lead += 1
    after: asyncio.Future[dict[str, Any]] | None = None
    try:
        results = await asyncio.gather(
            ex.prepare(run_id, intent, state),
            ex.commands(run_id, intent, state, step.commands[:lead]),
            return_exceptions=True,
        )
        for outcome in results:
            if isinstance(outcome, BaseException):
                raise outcome
        vetoed = await run_hooks(ex, run_id, intent, step, kind="pre_deploy", env=hook_env(
            ex, run_id, intent, step, before=state.before))
        if vetoed:
            raise StepFailedError(vetoed)
        if step.action == "rollback":
            await ex.retag_to_last_good(run_id, intent, state)
        await ex.commands(run_id, intent, state, step.commands[lead:])
        gating = asyncio.ensure_future(ex.gates(run_id, intent, state, "deploy"))
        if state.project is not None and step.snapshot:
            # What runs now is what the gates judge: read it while they run, once
            # they have taken their first look (the tasks start in order).
            await asyncio.sleep(0)
            after = asyncio.ensure_future(take_snapshot(
                ex.engine, state.project, state.services, step.stack))
        try:
            failure = await gating
        except BaseException:
            await dropped(gating)
            raise
        if failure is not None:
            raise StepFailedError(failure)
        hook_failed = await run_hooks(ex, run_id, intent, step, kind="post_deploy",
                                    env=hook_env(ex, run_id, intent, step,
                                                 before=state.before))
        if hook_failed and step.rollback_on_hook_failure:
            raise StepFailedError(hook_failed)
    except (StepFailedError, EngineError) as exc:
        await dropped(after)
        return await ex.after_failure(run_id, intent, state, exc.message)
    except BaseException:
        await dropped(after)
        raise
    if after is not None:
        try:
            taken = await after
        except EngineError as exc:
            return await ex.after_failure(run_id, intent, state, exc.message)
        taken["health"] = [g.check.model_dump(mode="json") for g in step.gates
                           if not g.implicit]
        taken["action"] = step.action
        ex.save_snapshot(run_id, step, "after", taken)
    if hook_failed:
        return RunStatus.succeeded, f"succeeded, but {hook_failed} (the change stays: " \
            "rollback_on_hook_failure is off)"
    return RunStatus.succeeded, "succeeded"


KIND = register(Strategy(name="recreate", summary="pull, recreate in place, gate; on a "
                         "failure put back the snapshot's images", run=run))
