"""Showing a run as it happens on a terminal: a live Rich view redrawn in place."""

from __future__ import annotations

import shlex
import time
from collections import deque
from typing import Any, Self

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from chatops import events as ev
from chatops.cli.progress import ICONS


class _Shown:
    """A Rich ``Live`` view, shown while the ``with`` block runs."""

    live: Live

    def __enter__(self) -> Self:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)


class LiveProgress(_Shown):
    """Current step, a tail of its output, gate status and elapsed time, redrawn in place."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self.start = time.monotonic()
        self.title = ""
        self.step = ""
        self.command = ""
        self.tail: deque[str] = deque(maxlen=6)
        self.gates: dict[str, str] = {}
        self.done: list[str] = []
        self.live = Live(self._render(), console=self.console, refresh_per_second=8,
                         transient=False, get_renderable=self._render)

    def _render(self) -> Group:
        elapsed = time.monotonic() - self.start
        parts: list[Any] = [Text.from_markup(f"[bold]{escape(self.title)}[/]  {elapsed:5.1f}s")]
        parts += [Text(line) for line in self.done]
        if self.step:
            parts.append(Text.from_markup(f"[cyan]{escape(self.step)}[/]"))
        if self.command:
            parts.append(Text.from_markup(f"  [dim]$[/] {escape(self.command)}"))
        parts += [Text.from_markup(f"    [dim]{escape(line)}[/]") for line in self.tail]
        for desc, status in self.gates.items():
            parts.append(Text(f"  {status} {desc}"))
        return Group(*parts)

    def __call__(self, event: ev.Event) -> None:
        d = event.data
        k = event.kind
        if k == ev.RUN_STARTED:
            self.title = f"run {event.run_id} · {event.intent}"
        elif k == ev.WAITING:
            self.step = f"waiting for stack {d['stack']} (held by {d['holder']})"
        elif k == ev.STEP_STARTED:
            if self.step:
                self.done.append(f"✓ {self.step}")
            svc = f", service {d['service']}" if d.get("service") else ""
            self.step = f"[{d['doc']}/{d['docs']}] {d['action']} on {d['stack']}{svc}"
            self.gates.clear()
        elif k == ev.COMMAND_STARTED and d["phase"] != "preflight":
            self.command = shlex.join(d["argv"])
            self.tail.clear()
        elif k == ev.OUTPUT:
            self.tail.append(d["text"])
        elif k == ev.GATE_STARTED:
            self.gates[d["description"]] = "…"
        elif k == ev.GATE_FINISHED:
            self.gates[d["description"]] = "✓" if d["ok"] else f"✗ ({d['detail']})"
        elif k == ev.ROLLBACK_STARTED:
            self.done.append(f"✗ {self.step}: {d['reason']}")
            self.step = "↩ rolling back"
            self.gates.clear()
        elif k == ev.RUN_FINISHED:
            if self.step:
                self.done.append(("✓ " if d["status"] in ("succeeded", "rolled_back") else "✗ ")
                                 + self.step)
            self.step = self.command = ""
            self.tail.clear()
            reason = f": {d['reason']}" if d.get("reason") else ""
            self.done.append(f"{ICONS.get(d['status'], '')} {d['status'].upper()}{reason}")
        self.live.refresh()


class FleetProgress(_Shown):
    """One live row per intent of an orchestrated run: waiting, pulling, recreating,
    gating, rolling back, then its outcome."""

    def __init__(self, names: list[str], console: Console | None = None) -> None:
        self.rows: dict[str, str] = dict.fromkeys(names, "waiting")
        self.started = dict.fromkeys(names, 0.0)
        self.took: dict[str, float] = {}
        self.console = console or Console()
        self.live = Live(self._render(), console=self.console, refresh_per_second=8,
                         get_renderable=self._render)

    def _render(self) -> Any:
        from rich.table import Table

        table = Table(title="chatops run", title_justify="left")
        table.add_column("intent")
        table.add_column("state")
        table.add_column("time", justify="right")
        now = time.monotonic()
        for name, state in self.rows.items():
            took = self.took.get(name)
            if took is None and self.started.get(name):
                took = now - self.started[name]
            table.add_row(name, state, f"{took:.1f}s" if took is not None else "")
        return table

    def state(self, event: ev.Event) -> str | None:
        """The row state an event moves its intent to (None: no change)."""
        d = event.data
        if event.kind == ev.WAITING:
            return f"waiting for stack {d['stack']}"
        if event.kind == ev.COMMAND_STARTED and d.get("phase") == "deploy":
            argv = d["argv"]
            return "pulling" if "pull" in argv else "recreating" if "up" in argv else "running"
        if event.kind == ev.GATE_STARTED:
            return "gating" if d.get("phase") == "deploy" else "checking the rollback"
        if event.kind == ev.ROLLBACK_STARTED:
            return "rolling back"
        if event.kind == ev.RUN_FINISHED:
            return f"{ICONS.get(d['status'], '')} {d['status']}".strip()
        return None

    def __call__(self, event: ev.Event) -> None:
        if event.intent not in self.rows:
            return
        if event.kind == ev.RUN_STARTED:
            self.started[event.intent] = time.monotonic()
        new = self.state(event)
        if new is not None:
            self.rows[event.intent] = new
            if event.kind == ev.RUN_FINISHED and self.started.get(event.intent):
                self.took[event.intent] = time.monotonic() - self.started[event.intent]
        self.live.refresh()
