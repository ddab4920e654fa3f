"""Showing a run as it happens, one plain line per event (CI logs, pipes, journals)."""

from __future__ import annotations

import shlex
import sys
import time
from typing import TextIO

from chatops import events as ev

ICONS = {"succeeded": "✅", "failed": "❌", "rolled_back": "↩️ ", "rollback_failed": "⚠️ ",
         "interrupted": "⏹️ ", "denied": "⛔", "expired": "⌛", "superseded": "⏭️ "}


class PlainProgress:
    """One line per event, for CI logs and pipes."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.start = time.monotonic()

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def __call__(self, event: ev.Event) -> None:
        d = event.data
        k = event.kind
        if k == ev.RUN_STARTED:
            self._print(f"run {event.run_id}: intent {event.intent} "
                        f"(stacks: {', '.join(d['stacks'])})")
        elif k == ev.WAITING:
            self._print(f"waiting for stack {d['stack']}: held by {d['holder']}")
        elif k == ev.STEP_STARTED:
            svc = f", service {d['service']}" if d.get("service") else ""
            self._print(f"[{d['doc']}/{d['docs']}] {d['action']} on {d['stack']}{svc}")
        elif k == ev.COMMAND_STARTED and d["phase"] != "preflight":
            self._print(f"  $ {shlex.join(d['argv'])}")
        elif k == ev.OUTPUT:
            self._print(f"    | {d['text']}")
        elif k == ev.COMMAND_FINISHED and d["phase"] != "preflight":
            mark = "✓" if d["ok"] else "✗"
            self._print(f"    {mark} {d['detail']} ({d['duration']:.1f}s)")
        elif k == ev.COMMAND_FINISHED and not d["ok"]:
            self._print(f"  ✗ {shlex.join(d['argv'])}: {d['detail']}")
        elif k == ev.GATE_FINISHED:
            mark = "✓" if d["ok"] else "✗"
            self._print(f"  {mark} gate: {d['description']}: {d['detail']}")
        elif k == ev.ROLLBACK_STARTED:
            self._print(f"↩ rolling back: {d['reason']}")
        elif k == ev.NOTE:
            self._print(f"  {d['text']}")
        elif k == ev.RUN_FINISHED:
            icon = ICONS.get(d["status"], "")
            took = time.monotonic() - self.start
            reason = f": {d['reason']}" if d.get("reason") else ""
            self._print(f"{icon} {d['status'].upper()} in {took:.1f}s{reason}")
