"""Self-upgrade: chatops's own service, rolled out to a new image. The service cannot
recreate its own container (Compose would stop it, and itself with it), so after the
pull it records a handoff in the state directory and starts a helper container on its
own image, which recreates the service and, if the new chatops does not report healthy,
puts the old image back (``runner/handoff.py``). The run stays open; the chatops that
comes up, new or old, finishes it (``application/handoffs.py``).

Decided first: the stack has no secrets to stage (a step's decrypted copies live only
while this chatops runs it, and the helper recreates the service after it stopped), this
chatops must run in a container of the intent's service, and the pull must succeed.
Nothing is changed before the helper starts."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from chatops.errors import EngineError
from chatops.planning.steps import Command
from chatops.runner.handoff import helper_argv, helper_name, own_container_id
from chatops.runner.state import HandoffSignal, StepFailedError, StepState
from chatops.runner.strategies import Outcome, Strategy, register
from chatops.store.handoffs import Handoff
from chatops.store.records import RunStatus

if TYPE_CHECKING:
    from chatops.runner.state import StepIO

#: Beyond the intent's slowest gate: the new container's start and its service's.
START_ALLOWANCE = 60.0


async def run(ex: StepIO, run_id: str, intent: str, state: StepState) -> Outcome:
    step = state.step
    try:
        handoff, own = await _decide(ex, run_id, intent, state)
    except (StepFailedError, EngineError) as exc:
        return RunStatus.failed, f"{exc.message} (nothing was changed)"
    ex.store.hand_off(handoff)
    argv = helper_argv(run_id, own, handoff.old_image, ex.store.path.parent, os.getgroups())
    cmd = Command(argv, "start the upgrade's helper container (the old image)", 60, True)
    result = await ex.command(run_id, intent, step, cmd, "deploy", argv)
    if not result.ok:
        ex.store.move_handoff(run_id, ("handing_off",), "finished",
                              reason="the helper did not start")
        return (RunStatus.failed, f"the upgrade's helper did not start: {result.describe()} "
                "(nothing was changed)")
    ex.note(run_id, intent, f"handed over to {helper_name(run_id)}: it recreates "
            f"{step.service} on {handoff.image_ref}; the chatops that comes up finishes "
            "this run")
    raise HandoffSignal(run_id)


async def _decide(ex: StepIO, run_id: str, intent: str, state: StepState
                  ) -> tuple[Handoff, str]:
    """The handoff to record, and the container this chatops runs in."""
    step = state.step
    if ex.run_context(run_id).get("secrets_dir") is not None:
        raise StepFailedError(
            "strategy self-upgrade cannot give chatops's own service its secrets: the "
            "helper recreates it after this chatops stopped, and the decrypted copies end "
            "with the step; keep chatops's settings in its env file outside Git "
            "(chatops.env)")
    await ex.prepare(run_id, intent, state)
    assert state.project is not None  # noqa: S101 - set by prepare
    own = own_container_id()
    project, service = state.project.name, step.service or ""
    mine = [c for c in await ex.engine.containers(project, [service]) if c.id == own]
    if own is None or not mine:
        where = "in no container" if own is None else f"in container {own[:12]}"
        raise StepFailedError(f"strategy self-upgrade upgrades the chatops that runs it, "
                              f"but this chatops runs {where}, not in service {service} of "
                              f"project {project}")
    await ex.commands(run_id, intent, state, [c for c in step.commands if not c.mutating])
    ref = state.project.services[service].image
    new_image = await ex.engine.image_id(ref)
    if new_image is None:
        raise StepFailedError(f"{ref} is not on this host after the pull")
    up = [c for c in step.commands if c.mutating]
    if len(up) != 1:
        raise StepFailedError("a self-upgrade recreates its service with one command")
    slowest = max((g.within for g in step.gates), default=0.0)
    return Handoff(
        run_id=run_id, intent=intent, project=project, service=service, image_ref=ref,
        old_image=mine[0].image_id, new_image=new_image, up=up[0].argv,
        cwd=str(step.compose.parent), deadline=time.time() + slowest + START_ALLOWANCE,
        gates=[g.check.model_dump(mode="json") for g in step.gates if not g.implicit]), own


KIND = register(Strategy(name="self-upgrade", summary="chatops's own service: a helper "
                         "container on the old image recreates it, and puts the old image "
                         "back unless the new chatops reports healthy", run=run))
