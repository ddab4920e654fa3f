"""The process runner: argv only, streamed lines, and a timeout that kills the whole group."""

from __future__ import annotations

import asyncio
import os
import sys
import time

from chatops.engine.base import OutputLine
from chatops.engine.process import run_process

PY = sys.executable


def run(argv: list[str], timeout: float = 10, lines: list[OutputLine] | None = None):
    return asyncio.run(run_process(argv, timeout=timeout,
                                   on_line=lines.append if lines is not None else None))


def test_output_is_streamed_line_by_line_with_streams_and_timestamps() -> None:
    lines: list[OutputLine] = []
    result = run([PY, "-c", "import sys; print('out'); print('err', file=sys.stderr)"],
                 lines=lines)
    assert result.ok
    assert sorted((ln.stream, ln.text) for ln in lines) == [("stderr", "err"), ("stdout", "out")]
    assert all(ln.ts.tzinfo is not None for ln in lines)


def test_exit_code_and_tail_are_reported() -> None:
    result = run([PY, "-c", "print('boom'); raise SystemExit(3)"])
    assert (result.ok, result.exit_code, result.tail) == (False, 3, ["boom"])
    assert result.describe() == "exit code 3: boom"


def test_arguments_are_never_interpreted_by_a_shell(tmp_path) -> None:
    marker = tmp_path / "pwned"
    result = run(["echo", f"; touch {marker}", "$(id)"])
    assert result.tail == [f"; touch {marker} $(id)"]
    assert not marker.exists()


def test_missing_program_is_a_clear_error() -> None:
    result = run(["definitely-not-a-program-xyz"])
    assert result.error == "definitely-not-a-program-xyz is not installed (not on PATH)"
    assert not result.ok


def test_timeout_kills_the_process_group_leaving_no_orphans(tmp_path) -> None:
    pidfile = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )
    start = time.monotonic()
    result = run([PY, "-c", script], timeout=1.0)
    assert result.timed_out
    assert result.exit_code is None
    assert time.monotonic() - start < 8
    child = int(pidfile.read_text())
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        with open(f"/proc/{child}/stat") as fh:
            if fh.read().split()[2] == "Z":
                break
        time.sleep(0.05)
    else:
        raise AssertionError(f"child {child} outlived the timeout")


def test_process_that_ignores_sigterm_is_killed() -> None:
    script = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)"
    result = run([PY, "-c", script], timeout=0.5)
    assert result.timed_out
