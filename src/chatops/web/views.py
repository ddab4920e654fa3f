"""What the dashboard's templates are given: the Jinja2 environment with its filters, and
the views of a run (its image changes, its timeline) computed from its record."""

from __future__ import annotations

from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatops.store.records import RunRecord
from chatops.store.summaries import traffic_summary

if TYPE_CHECKING:
    from jinja2 import Environment
    from starlette.requests import Request

HERE = Path(str(resources.files("chatops.web")))


def environment(extra: dict[str, Any]) -> Environment:
    """Made when the first page is drawn: a service nobody browses never imports Jinja2.
    ``extra``: more globals for every template."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape  # noqa: PLC0415

    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["short"] = lambda sha: (sha or "")[:12]
    env.filters["when"] = lambda iso: (iso or "")[:19].replace("T", " ")
    env.filters["traffic"] = traffic_summary
    # Plain symbols, not emoji: they read the same in every font (and a server's
    # browser often has no emoji font).
    env.globals["ICONS"] = {"succeeded": "✓", "failed": "✗", "rolled_back": "↩",
                            "rollback_failed": "⚠", "interrupted": "■", "running": "…",
                            "queued": "…", "awaiting_approval": "?", "denied": "✗",
                            "expired": "–", "superseded": "»"}
    env.globals.update(extra)
    return env


def secure(request: Request) -> bool:
    """Whether the browser reached the dashboard over HTTPS (itself, or a proxy's)."""
    return request.url.scheme == "https" or \
        request.headers.get("x-forwarded-proto", "") == "https"


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a dashboard path only (never another site)."""
    if value and value.startswith("/ui/") and not any(bad in value for bad in
                                                      ("//", "\\", "..")):
        return value[:500]
    return "/ui/stacks"


def iso(when: datetime | None) -> str:
    return when.isoformat(timespec="minutes") if when else "not scheduled (a freeze)"


def image_changes(record: RunRecord) -> list[tuple[str, str, str | None, str | None]]:
    """(stack, service, before, after) for each image the run changed, from its
    snapshots."""
    by: dict[tuple[int, str], dict[str, Any]] = {}
    for snap in record.snapshots:
        by[(snap["doc"], snap["kind"])] = snap
    out = []
    for (doc, kind), before in sorted(by.items()):
        if kind != "before":
            continue
        after = by.get((doc, "after")) or {}
        for svc, entry in (before.get("services") or {}).items():
            new = ((after.get("services") or {}).get(svc) or {})
            if new and entry.get("image_id") != new.get("image_id"):
                ran = entry.get("image_ref") if entry.get("containers") else None
                out.append((before["stack"], svc, ran, new.get("image_ref")))
    return out


def timeline(record: RunRecord) -> list[tuple[str, str]]:
    """(time, what) for each phase of the run, in order."""
    points = [(record.created_at, f"created ({record.trigger}, by {record.actor})")]
    for vote in (record.approval or {}).get("votes") or []:
        points.append((vote["at"], f"{vote['verdict']} by {vote['who']} via {vote['via']}"))
    if record.started_at:
        points.append((record.started_at, "started"))
    for step in record.steps:
        points.append((step["started_at"], f"{step['phase']}: {step['description']}"))
    if record.ended_at:
        points.append((record.ended_at, f"ended {record.status}"))
    return sorted(points)
