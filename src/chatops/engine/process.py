"""Run an argv list as its own process group: streamed lines, a timeout that kills the group."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from chatops.engine.base import CommandResult, OnLine, OutputLine
from chatops.engine.environment import child_env

TAIL_LINES = 40
MAX_LINE = 4000
KILL_GRACE = 3.0


async def run_process(
    argv: Sequence[str],
    *,
    timeout: float,
    on_line: OnLine | None = None,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> CommandResult:
    argv = tuple(argv)
    start = time.monotonic()
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group, so a timeout kills it whole
            env=child_env(env),  # never the service's own secrets
            cwd=cwd,
        )
    except FileNotFoundError:
        return CommandResult(argv, None, 0.0, error=f"{argv[0]} is not installed (not on PATH)")
    except PermissionError as exc:
        return CommandResult(argv, None, 0.0, error=f"cannot run {argv[0]}: {exc.strerror}")

    async def pump(stream: asyncio.StreamReader | None, name: Literal["stdout", "stderr"]) -> None:
        if stream is None:
            return
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line longer than the stream limit
                raw = await stream.read(65536)
            if not raw:
                return
            text = raw.decode("utf-8", "replace").rstrip("\r\n")[:MAX_LINE]
            tail.append(text)
            if on_line is not None:
                on_line(OutputLine(datetime.now(UTC), name, text))

    pumps = asyncio.gather(pump(proc.stdout, "stdout"), pump(proc.stderr, "stderr"))
    timed_out = False
    try:
        await asyncio.wait_for(asyncio.shield(pumps), timeout)
        await asyncio.wait_for(proc.wait(), max(0.1, timeout - (time.monotonic() - start)))
    except TimeoutError:
        timed_out = True
        await _kill_group(proc)
    except asyncio.CancelledError:
        await _kill_group(proc)
        raise
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pumps, 2.0)
    return CommandResult(
        argv,
        None if timed_out else proc.returncode,
        time.monotonic() - start,
        timed_out=timed_out,
        tail=list(tail),
    )


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the whole group, then SIGKILL what is left after a grace period."""
    for sig, grace in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            continue
        # The leader is gone; children of the group may remain.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        return
