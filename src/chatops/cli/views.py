"""How the CLI shows runs, whether it read them itself or asked the service."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

COLOURS = {"succeeded": "green", "failed": "red", "rolled_back": "yellow",
           "rollback_failed": "bold red", "interrupted": "magenta", "running": "cyan"}


def print_runs(records: list[dict[str, Any]], *, json_output: bool, where: str) -> int:
    """``chatops runs``: a table on a terminal, aligned plain lines into a pipe, JSON
    with ``--format json``."""
    if json_output:
        sys.stdout.write(json.dumps(records, indent=2) + "\n")
        return 0
    if not sys.stdout.isatty():  # for grep and awk: one run a line, aligned columns
        sys.stdout.write(plain_table(records, where))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not records:
        console.print("no runs recorded yet")
        return 0
    table = Table(title=f"chatops runs ({where})", title_justify="left")
    for column in ("id", "intent", "status", "stacks", "by", "started", "took", "reason"):
        table.add_column(column, overflow="fold")
    for r in records:
        took = _took(r)
        started = (r.get("started_at") or r["created_at"])[:19].replace("T", " ")
        status = str(r["status"])
        table.add_row(r["id"], r["intent"], f"[{COLOURS.get(status, 'white')}]{status}[/]",
                      ", ".join(r.get("stacks") or []), f"{r['actor']} ({r['trigger']})",
                      started, took, _reason(r)[:200])
    console.print(table)
    return 0


def plain_table(records: list[dict[str, Any]], where: str) -> str:
    if not records:
        return "no runs recorded yet\n"
    header = ("ID", "INTENT", "STATUS", "STACKS", "BY", "STARTED", "TOOK", "REASON")
    rows = [header] + [
        (r["id"], r["intent"], str(r["status"]), ",".join(r.get("stacks") or []) or "-",
         f"{r['actor']} ({r['trigger']})",
         (r.get("started_at") or r["created_at"])[:19].replace("T", " "), _took(r) or "-",
         " ".join(_reason(r).split())[:200])
        for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True))
             + "  " + row[-1] for row in rows]
    return f"chatops runs ({where})\n" + "\n".join(line.rstrip() for line in lines) + "\n"


def _reason(record: dict[str, Any]) -> str:
    """The reason, and for a blue-green run what happened to traffic."""
    from chatops.store.summaries import traffic_summary

    parts = [record.get("reason") or "", traffic_summary(record.get("traffic"))]
    return " | ".join(p for p in parts if p)


def _took(record: dict[str, Any]) -> str:
    seconds = record.get("duration_seconds")
    if seconds is None and record.get("started_at") and record.get("ended_at"):
        seconds = (datetime.fromisoformat(record["ended_at"])
                   - datetime.fromisoformat(record["started_at"])).total_seconds()
    return f"{seconds:.1f}s" if seconds is not None else ""


def runs_command(*, intent: str | None, stack: str | None, status: str | None, limit: int,
                 json_output: bool) -> int:
    from chatops.cli.config import current_settings
    from chatops.runtime import Runtime

    settings = current_settings()
    runtime = Runtime.open(settings)
    try:
        records = runtime.store.list_runs(intent=intent, stack=stack, status=status,
                                          limit=limit)
    finally:
        runtime.close()
    return print_runs([r.as_dict(detail=False) for r in records], json_output=json_output,
                      where=str(settings.paths.db))
