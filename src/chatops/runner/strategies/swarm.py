"""A Swarm step: ``docker stack deploy``, judged by Swarm's own word, then the gates.

- **Pinned.** Each image of the file is pulled here and pinned by its registry digest
  in a second file (in the state directory, never the checkout), so every node runs the
  same image even when a tag moves or a registry is slow (moby #41847).
- **Read, not assumed.** ``docker stack deploy`` returns before the update ends (and
  ``--detach=false`` exits 0 after Swarm rolled an update back, docker/cli #6752). So the
  step reads each service's ``UpdateStatus`` newer than the deploy: ``completed`` is
  success; ``paused`` and every ``rollback_*`` state are failures, with Swarm's message.
  A service that is new, or whose image did not change, must have its tasks running.
- **Then the gates**, as for Compose. On any failure, every changed service goes back
  to the digest the snapshot recorded (``docker service update --image``), each update
  waited for until every replica runs that digest again (not through Swarm's monitor
  period), and the gates run again.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import yaml

from chatops.errors import ChatopsError
from chatops.paths import private_dir
from chatops.planning.images import images_in
from chatops.planning.steps import Command
from chatops.planning.swarm import DEPLOY, swarm_service
from chatops.runner.hooks import after_change, before_change
from chatops.runner.project import ComposeProject
from chatops.runner.state import StepFailedError, StepState
from chatops.runner.strategies import Outcome, Strategy, register
from chatops.store.records import RunStatus

if TYPE_CHECKING:
    from chatops.runner.state import StepIO

POLL = 0.1  # the engine's API on its socket: cheap to ask often
FAILED_STATES = ("paused", "rollback_started", "rollback_paused", "rollback_completed")
#: A task in one of these states did not run (Docker's task states).
TASK_FAILED = ("failed", "rejected", "orphaned")


def _image(service: dict[str, Any]) -> str:
    return str(((service.get("Spec") or {}).get("TaskTemplate") or {})
               .get("ContainerSpec", {}).get("Image", ""))


def _name(service: dict[str, Any]) -> str:
    return str((service.get("Spec") or {}).get("Name", ""))


def _replicas(service: dict[str, Any]) -> int:
    mode = (service.get("Spec") or {}).get("Mode") or {}
    return int((mode.get("Replicated") or {}).get("Replicas", 1))


def _update(service: dict[str, Any]) -> tuple[str, str, str]:
    status = service.get("UpdateStatus") or {}
    return (str(status.get("State", "")), str(status.get("StartedAt", "")),
            str(status.get("Message", "")))


def _now() -> str:
    """Now, as Docker writes a task's CreatedAt (UTC, to the microsecond), less a second
    of slack."""
    return (datetime.now(UTC) - timedelta(seconds=1)).isoformat(
        timespec="microseconds").replace("+00:00", "")


def _crashed(tasks: list[dict[str, Any]], image: str, since: str) -> str | None:
    """Why a task of ``image`` created since ``since`` (an ISO time) failed, or None: Swarm
    itself says so only after its update monitor (seconds later, and as "paused")."""
    for task in tasks:
        spec = ((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Image")
        status = task.get("Status") or {}
        if spec != image or status.get("State") not in TASK_FAILED:
            continue
        if str(task.get("CreatedAt", ""))[:26] < since[:26]:
            continue  # an older task of the same image: not this update's
        return str(status.get("Err") or status.get("Message") or status.get("State"))
    return None


class SwarmStep:
    def __init__(self, ex: StepIO, run_id: str, intent: str, state: StepState,
                 pins: Any) -> None:
        self.ex, self.run_id, self.intent, self.state = ex, run_id, intent, state
        self.step = state.step
        self.stack = self.step.stack
        self.pins = pins  # the pins file's path

    def _note(self, text: str) -> None:
        self.ex.note(self.run_id, self.intent, text)

    async def services(self) -> dict[str, dict[str, Any]]:
        return {_name(s): s for s in await self.ex.engine.swarm_services(self.stack)}

    def snapshot(self, services: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {"stack": self.stack, "engine": "swarm", "compose_file": str(self.step.compose),
                "services": {name: {"image": _image(s), "replicas": _replicas(s)}
                             for name, s in services.items()},
                "health": [g.check.model_dump(mode="json") for g in self.step.gates]}

    async def run(self) -> tuple[RunStatus, str]:
        ex, step, state = self.ex, self.step, self.state
        state.project = ComposeProject(self.stack, step.compose, "", {})
        try:
            before = await self.services()
            state.before = self.snapshot(before)
            ex.save_snapshot(self.run_id, step, "before", state.before)
            await before_change(ex, self.run_id, self.intent, state)
            if step.action == "rollout":
                await self._rollout(before)
            elif step.action == "scale":
                await self._scale(before)
            elif step.action == "restart":
                await self._restart(before)
            else:
                await self._back_to(before, self._target(before), "deploy")
            failure = await ex.gates(self.run_id, self.intent, state, "deploy", expected={})
            if failure is not None:
                raise StepFailedError(failure)
            hook_failed = await after_change(ex, self.run_id, self.intent, state)
        except ChatopsError as exc:
            return await self._failed(exc.message)
        after = self.snapshot(await self.services())
        ex.save_snapshot(self.run_id, step, "after", {**after, "action": step.action})
        if hook_failed:
            return RunStatus.succeeded, f"succeeded, but {hook_failed} (the change stays: " \
                "rollback_on_hook_failure is off)"
        return RunStatus.succeeded, "succeeded"

    # -- the actions ---------------------------------------------------------------------

    async def _run(self, argv: tuple[str, ...], description: str, phase: str = "deploy",
                   *, mutating: bool = True) -> None:
        cmd = Command(argv, description, self.step.timeout, mutating)
        result = await self.ex.command(self.run_id, self.intent, self.step, cmd, phase, argv)
        if mutating and not self.state.changed:
            self.state.changed = True
            self.ex.store.mark_changed(self.run_id)
        if not result.ok:
            raise StepFailedError(f"{description} failed: {result.describe()}")

    async def _pin(self) -> dict[str, str]:
        """Each image of the file pulled here and pinned by digest, in the pins file."""
        text = self.step.compose.read_bytes()
        images = images_in(text)
        if self.step.service is not None:
            images = {k: v for k, v in images.items() if k == self.step.service}
        pins: dict[str, str] = {}
        for service, image in sorted(images.items()):
            await self._run(("docker", "pull", image), f"pull {image}", mutating=False)
            digest = await self.ex.engine.image_digest(image)
            if digest is None:
                raise StepFailedError(f"image {image} has no registry digest: push it to a "
                                      "registry every node can reach")
            pins[service] = digest
        # The same version line as the user's file, or none: docker stack deploy refuses
        # two files of different versions, and Docker CLI 28 reads a file without one as
        # its newest.
        version = (yaml.safe_load(text) or {}).get("version")
        private_dir(self.pins.parent)
        self.pins.write_text(yaml.safe_dump({
            **({"version": str(version)} if version is not None else {}),
            "services": {name: {"image": digest} for name, digest in pins.items()}}))
        self._note("pinned: " + ", ".join(f"{s} → {d}" for s, d in pins.items()))
        return pins

    async def _rollout(self, before: dict[str, dict[str, Any]]) -> None:
        pins = await self._pin()
        since = _now()
        await self._run((*DEPLOY, "-c", str(self.step.compose), "-c", str(self.pins),
                         "--with-registry-auth", "--resolve-image", "always", self.stack),
                        f"deploy stack {self.stack}")
        changed = {swarm_service(self.stack, s): d for s, d in pins.items()
                   if _image(before.get(swarm_service(self.stack, s), {})) != d}
        await self._settle(before, set(changed), "deploy", since=since, new_images=changed)

    async def _scale(self, before: dict[str, dict[str, Any]]) -> None:
        names = self._names(before)
        for name in names:
            await self._run(("docker", "service", "scale", "--detach",
                             f"{name}={self.step.replicas}"),
                            f"scale {name} to {self.step.replicas} replicas")
        await self._settle(before, set(), "deploy")

    async def _restart(self, before: dict[str, dict[str, Any]]) -> None:
        names = self._names(before)
        for name in names:
            await self._run(("docker", "service", "update", "--detach", "--force", name),
                            f"restart {name}")
        await self._settle(before, set(names), "deploy")

    def _names(self, services: dict[str, dict[str, Any]]) -> list[str]:
        if self.step.service is not None:
            name = swarm_service(self.stack, self.step.service)
            if name not in services:
                raise StepFailedError(f"stack {self.stack} has no service {name}")
            return [name]
        if not services:
            raise StepFailedError(f"stack {self.stack} has no services on this swarm")
        return sorted(services)

    def _target(self, now: dict[str, dict[str, Any]]) -> dict[str, str]:
        """The action rollback's target: the newest good run whose images differ."""
        current = {name: _image(s) for name, s in now.items()}
        for run_id, snap in self.ex.store.good_snapshots(self.stack):
            images = {n: e.get("image", "") for n, e in (snap.get("services") or {}).items()
                      if e.get("image")}
            if images and any(current.get(n) != i for n, i in images.items()):
                self._note(f"returning {self.stack} to the images of run {run_id}")
                return images
        raise StepFailedError(f"no succeeded run of stack {self.stack} left images "
                              "different from the ones running now; nothing to roll back to "
                              "(nothing was changed)")

    async def _back_to(self, now: dict[str, dict[str, Any]], images: dict[str, str],
                       phase: str) -> None:
        changed = {n for n, image in images.items() if n in now and _image(now[n]) != image}
        for name in sorted(changed):
            await self._run(("docker", "service", "update", "--detach",
                             "--with-registry-auth", "--image", images[name], name),
                            f"return {name} to {images[name]}", phase)
        await self._settle(now, changed, phase, target=images)

    # -- reading Swarm's word ------------------------------------------------------------

    async def _settle(
            self, before: dict[str, dict[str, Any]], updated: set[str], phase: str, *,
            since: str | None = None, new_images: dict[str, str] | None = None,
            target: dict[str, str] | None = None) -> None:
        """Wait until each updated service's update (newer than ``before``) completed and
        every service runs its replicas; Swarm's failure states, and a failed task of a
        deployed image (``new_images``), end it at once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.step.timeout
        started = {name: _update(s)[1] for name, s in before.items()}
        # Tasks created since the update began are its own (the engine is this host's).
        since = since or _now()
        target = target or {}
        async with self.ex.recorded(self.run_id, self.step, phase,
                                    "wait for Swarm: each updated service's UpdateStatus, "
                                    "and its tasks running", ["engine-api", "wait"]):
            while True:
                services = await self.services()
                waiting: list[str] = []
                for name, service in sorted(services.items()):
                    state, since_update, message = _update(service)
                    if new_images and name in new_images:
                        # The deployed image, not the service's spec: Swarm's own rollback
                        # may have put the old one back already.
                        tasks = await self.ex.engine.swarm_tasks(str(service.get("ID", "")))
                        crash = _crashed(tasks, new_images[name], since)
                        if crash is not None:
                            raise StepFailedError(f"a new task of {name} failed: {crash}")
                    if name in updated and name in before:
                        if phase == "rollback" and await self._back(service, target):
                            # Every replica runs the old image again (by this update, or
                            # Swarm's own rollback): its monitor period is not waited
                            # out, the health gates that follow check the service.
                            continue
                        if since_update == started.get(name) or not state:
                            waiting.append(f"{name}: no update yet")
                            continue
                        if state in FAILED_STATES:
                            raise StepFailedError(
                                f"Swarm reports the update of {name} {state}"
                                + (f": {message}" if message else ""))
                        if state != "completed":
                            waiting.append(f"{name}: {state}")
                            continue
                    running = await self._running(service)
                    if running < _replicas(service):
                        waiting.append(f"{name}: {running}/{_replicas(service)} tasks run")
                if not waiting:
                    return
                if loop.time() > deadline:
                    raise StepFailedError("Swarm did not finish within "
                                          f"{self.step.timeout:g}s: {'; '.join(waiting)}")
                await asyncio.sleep(POLL)

    async def _back(self, service: dict[str, Any], target: dict[str, str]) -> bool:
        """Whether ``service`` runs its target image on all its replicas already."""
        name = _name(service)
        return (name in target and _image(service) == target[name]
                and await self._running(service) >= _replicas(service))

    async def _running(self, service: dict[str, Any]) -> int:
        image = _image(service)
        tasks = await self.ex.engine.swarm_tasks(str(service.get("ID", "")))
        return sum(1 for t in tasks
                   if (t.get("Status") or {}).get("State") == "running"
                   and t.get("DesiredState") == "running"
                   and ((t.get("Spec") or {}).get("ContainerSpec") or {}).get("Image")
                   == image)

    # -- the way back ----------------------------------------------------------------------

    async def _failed(self, reason: str) -> tuple[RunStatus, str]:
        ex, step, state = self.ex, self.step, self.state
        before = (state.before or {}).get("services") or {}
        if not state.changed or step.rollback is None or not before:
            why = "" if state.changed else " (nothing was changed)"
            return RunStatus.failed, reason + why
        self._note(f"rolling back: every changed service of {self.stack} to its snapshot "
                   "digest")
        try:
            await self._back_to(await self.services(),
                                {n: e["image"] for n, e in before.items()}, "rollback")
            failure = await ex.gates(self.run_id, self.intent, state, "rollback",
                                     expected={})
        except ChatopsError as exc:
            return RunStatus.rollback_failed, f"{reason}; the rollback failed too: " \
                f"{exc.message}"
        if failure is not None:
            return RunStatus.rollback_failed, f"{reason}; after the rollback: {failure}"
        return RunStatus.rolled_back, f"{reason}; rolled back to the snapshot's digests, " \
            "which pass the health gates"


async def run(ex: StepIO, run_id: str, intent: str, state: StepState) -> Outcome:
    return await SwarmStep(ex, run_id, intent, state, state.step.pins).run()


KIND = register(Strategy(name="swarm", summary="engine swarm: docker stack deploy with "
                         "pinned digests, read by its tasks, rolled back on a failed task",
                         run=run))
