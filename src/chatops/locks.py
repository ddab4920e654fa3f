"""Per-stack locks across processes, and per-run liveness markers.

Both are ``flock`` locks on files in the state directory: the kernel releases them when
their process dies, even by SIGKILL, so a crashed run never leaves a stack locked, and
a run whose liveness lock can be taken is known to be dead.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from chatops.errors import ConfigError, LockBusyError
from chatops.paths import private_dir, run_markers_present

POLL = 0.05
_SAFE = re.compile(r"^[A-Za-z0-9_.-]+(@[a-z0-9_-]+)?$")  # STACK, or STACK@HOST on a named host


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class HeldLocks:
    """Locks held by this process; ``release`` is idempotent."""

    def __init__(self, fds: list[int], unlink: Path | None = None) -> None:
        self._fds = fds
        self._unlink = unlink

    def release(self) -> None:
        if self._unlink is not None:  # while still held: nobody else can be using it
            with contextlib.suppress(OSError):
                self._unlink.unlink()
            self._unlink = None
        while self._fds:
            fd = self._fds.pop()
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class Locks:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        private_dir(self.dir)

    def _stack_path(self, stack: str) -> Path:
        if not _SAFE.match(stack):
            raise ValueError(f"unsafe stack name for a lock file: {stack!r}")
        return self.dir / f"stack-{stack}.lock"

    def holder(self, stack: str) -> str:
        try:
            text = self._stack_path(stack).read_text().strip()
        except OSError:
            text = ""
        return text or "another chatops run"

    async def acquire(
        self,
        stacks: Sequence[str],
        *,
        owner: str,
        wait: bool,
        sleep: Callable[[float], Awaitable[None]],
        on_wait: Callable[[str, str], None] | None = None,
    ) -> HeldLocks:
        """Lock every stack, in sorted order so two runs can never deadlock."""
        held: list[int] = []
        try:
            for stack in sorted(set(stacks)):
                fd = _open(self._stack_path(stack))
                announced = False
                while not _try_lock(fd):
                    if not wait:
                        os.close(fd)
                        raise LockBusyError(stack, self.holder(stack))
                    if on_wait is not None and not announced:
                        on_wait(stack, self.holder(stack))
                        announced = True
                    await sleep(POLL)
                os.ftruncate(fd, 0)
                os.write(fd, owner.encode())
                held.append(fd)
        except BaseException:
            HeldLocks(held).release()
            raise
        return HeldLocks(held)

    def busy(self, stack: str) -> str | None:
        """Who holds ``stack`` right now, or None (a probe: takes and drops the lock)."""
        fd = _open(self._stack_path(stack))
        try:
            if _try_lock(fd):
                fcntl.flock(fd, fcntl.LOCK_UN)
                return None
            return self.holder(stack)
        finally:
            os.close(fd)

    # -- one service per state directory -----------------------------------------

    def hold_service(self) -> HeldLocks:
        """Be the one service of this state directory; ``ConfigError`` naming the pid
        of the service that already is."""
        path = self.dir / "service.lock"
        fd = _open(path)
        if not _try_lock(fd):
            os.close(fd)
            try:
                pid = path.read_text().strip() or "unknown"
            except OSError:
                pid = "unknown"
            raise ConfigError(
                f"another chatops service (pid {pid}) already uses the state directory "
                f"{self.dir.parent}: two services "
                "on one state directory would split the audit trail and the stack queues; "
                "stop it, or give this one its own CHATOPS_STATE_DIR")
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        return HeldLocks([fd])

    # -- run liveness ----------------------------------------------------------

    def _run_path(self, run_id: str) -> Path:
        if not _SAFE.match(run_id):
            raise ValueError(f"unsafe run id: {run_id!r}")
        return self.dir / f"run-{run_id}.lock"

    def hold_run(self, run_id: str) -> HeldLocks:
        path = self._run_path(run_id)
        fd = _open(path)
        if not _try_lock(fd):  # pragma: no cover - run ids are unique
            os.close(fd)
            raise RuntimeError(f"run {run_id} is already held")
        return HeldLocks([fd], unlink=path)

    def any_run_markers(self) -> bool:
        """Cheap: is any run holding, or did any die holding, a liveness marker?"""
        return run_markers_present(self.dir)

    def run_alive(self, run_id: str) -> bool:
        """True while some process holds the run's liveness lock."""
        path = self._run_path(run_id)
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            if _try_lock(fd):
                fcntl.flock(fd, fcntl.LOCK_UN)
                with contextlib.suppress(OSError):
                    path.unlink()
                return False
            return True
        finally:
            os.close(fd)
