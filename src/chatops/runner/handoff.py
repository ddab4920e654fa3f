"""The helper of a self-upgrade: a container on the old chatops image, started by the old
service, that outlives it. It recreates chatops's service with Compose (which stops the
old service), waits for the new service to report healthy in the shared state, and if
it does not (it exits, restarts, fails its gates, or is silent past the deadline) tags
the old image back and recreates the service again. The service that comes up finishes
the run (``application/handoffs.py``).

Which container chatops runs in is read from ``/proc/self/mountinfo``: the engine mounts
each container's ``hostname`` and ``resolv.conf`` from the container's own folder, named
by its id."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from chatops.engine.base import Engine
from chatops.engine.process import run_process
from chatops.errors import EngineError
from chatops.store.database import utcnow
from chatops.store.handoffs import Handoff
from chatops.store.sqlite import RunStore

_CONTAINER = re.compile(r"/containers/([0-9a-f]{64})/(?:hostname|resolv\.conf|hosts)\s")
POLL = 0.25
#: The longest a helper waits for the service it put back to say it is up.
BACK_WITHIN = 120.0


def own_container_id(mountinfo: Path = Path("/proc/self/mountinfo")) -> str | None:
    """The id of the container this process runs in, or None outside one."""
    try:
        found = _CONTAINER.search(mountinfo.read_text(errors="replace"))
    except OSError:
        return None
    return found.group(1) if found else None


def helper_name(run_id: str) -> str:
    return f"chatops-handoff-{run_id}"


def helper_argv(run_id: str, own: str, image: str, state_dir: Path,
                groups: list[int]) -> tuple[str, ...]:
    """``docker run`` of the helper: the old image, the old container's mounts (the
    engine's socket, the GitOps checkout, the state), its groups, no network."""
    argv = ["docker", "run", "--detach", "--rm", "--name", helper_name(run_id),
            "--label", f"chatops.handoff={run_id}", "--volumes-from", own,
            "--network", "none", "--env", f"CHATOPS_STATE_DIR={state_dir}"]
    for gid in sorted(set(groups)):
        argv += ["--group-add", str(gid)]
    return (*argv, "--entrypoint", "chatops", image, "handoff", run_id)


class Helper:
    """One handoff, carried through by the helper container."""

    def __init__(self, store: RunStore, engine: Engine, handoff: Handoff) -> None:
        self.store, self.engine, self.h = store, engine, handoff

    def say(self, text: str) -> None:
        self.store.add_line(self.h.run_id, utcnow(), "chatops", f"upgrade helper: {text}")

    async def up(self) -> str | None:
        """Recreate the service as the file says; the new container's id, or None."""
        done = await run_process(self.h.up, timeout=600, cwd=self.h.cwd)
        if not done.ok:
            self.say(f"{' '.join(self.h.up[:4])} ... failed: {done.describe()}")
            return None
        found = await self.engine.containers(self.h.project, [self.h.service])
        running = [c for c in found if c.running]
        return running[0].id if running else (found[0].id if found else None)

    async def verdict_of(self, container: str, deadline: float) -> str | None:
        """None once the service in ``container`` reports healthy; else why not."""
        while time.time() < deadline:
            now = self.store.handoff(self.h.run_id)
            if now is None:
                return "the handoff record is gone"
            if now.state == "healthy":
                return None
            if now.state == "unhealthy":
                return f"the new chatops failed its health gates: {now.reason}"
            found = [c for c in await self.engine.containers(self.h.project, [self.h.service])
                     if c.id == container]
            if not found:
                return "the new chatops container is gone"
            if found[0].restart_count > 0 or found[0].state in ("exited", "dead"):
                return (f"the new chatops container {found[0].state} (exit code "
                        f"{found[0].exit_code}, restarted {found[0].restart_count} times)")
            await asyncio.sleep(POLL)
        return "the new chatops did not report healthy in time"

    async def carry(self) -> int:
        """The whole handoff; the helper's exit code (0: a verdict was written)."""
        h = self.h
        self.say(f"recreating {h.service} on {h.image_ref} ({h.new_image[:19]})")
        container = await self.up()
        why: str | None = "Compose did not recreate the service"
        if container is not None and self.store.move_handoff(
                h.run_id, ("handing_off",), "recreated", container=container):
            why = await self.verdict_of(container, h.deadline)
        if why is None and self.store.move_handoff(h.run_id, ("healthy",), "upgraded",
                                                   reason=f"upgraded to {h.image_ref}"):
            self.say(f"the new chatops ({container and container[:12]}) reports healthy")
            return 0
        self.say(f"{why}; putting back {h.old_image[:19]} as {h.image_ref}")
        try:
            await self.engine.tag(h.old_image, h.image_ref)
        except EngineError as exc:
            self.store.move_handoff(h.run_id, _UNDECIDED, "rollback_failed",
                                    reason=f"{why}; rollback failed: {exc.message}")
            return 1
        back = await self.up()
        if back is None:
            self.store.move_handoff(h.run_id, _UNDECIDED, "rollback_failed",
                                    reason=f"{why}; rollback failed: Compose did not "
                                    "recreate the service on the old image")
            return 1
        self.store.move_handoff(h.run_id, _UNDECIDED, "rolled_back", container=back,
                                reason=f"{why}; rolled back to the previous image")
        return 0


_UNDECIDED = ("handing_off", "recreated", "healthy", "unhealthy")
