"""The chat commands, whatever the platform: ``deploy``, ``rollback``, ``status``, ``runs``
and ``plan``, each one call of a use case, answered in text."""

from __future__ import annotations

from dataclasses import dataclass

from chatops.application.caller import Caller
from chatops.application.deploys import Deploys, Planned, RunAsk, Started
from chatops.errors import ChatopsError, ScopeDeniedError
from chatops.planning.render import render_text
from chatops.store.records import RunRecord, traffic_summary

COMMANDS = ("deploy", "rollback", "status", "runs", "plan")
ICONS = {"succeeded": "✅", "failed": "❌", "rolled_back": "↩️", "rollback_failed": "⚠️",
         "interrupted": "⏹️", "running": "⏳", "queued": "⏳"}
LIMIT = 1900  # Discord's message is 2,000 characters


@dataclass(frozen=True)
class Answer:
    text: str
    ephemeral: bool = False
    run_id: str | None = None  # a run started: its outcome follows


def _line(record: RunRecord) -> str:
    icon = ICONS.get(str(record.status), "•")
    text = f"{icon} `{record.id}` {record.intent} on {', '.join(record.stacks)}: " \
        f"{record.status} (by {record.actor} via {record.trigger})"
    extra = record.reason or traffic_summary(record.traffic)
    return text + (f"\n    {extra[:300]}" if extra else "")


def outcome(record: RunRecord) -> str:
    """The message a run's end leaves in chat."""
    return _line(record)[:LIMIT]


async def handle(deploys: Deploys, caller: Caller, command: str,
                 options: dict[str, str]) -> Answer:
    """Run one chat command for ``caller``; a refusal is an ephemeral answer (the use
    case audited it)."""
    try:
        if command == "deploy":
            started = await deploys.run(caller, RunAsk(name=options.get("intent", ""),
                                                        sha=options.get("sha") or None))
            assert isinstance(started, Started)  # noqa: S101 - not a dry run
            return Answer(f"🚀 deploying {started.record.intent} (run "
                          f"`{started.record.id}`); its outcome follows here",
                          run_id=started.record.id)
        if command == "rollback":
            started = await deploys.roll_back(caller, options.get("stack", ""))
            return Answer(f"↩️ rolling back {options.get('stack')} (run "
                          f"`{started.record.id}`); its outcome follows here",
                          run_id=started.record.id)
        if command in ("status", "runs", "plan"):
            deploys.may_read(caller, command)
            if command == "plan":
                planned = await deploys.run(caller, RunAsk(name=options.get("intent", ""),
                                                           dry_run=True))
                assert isinstance(planned, Planned)  # noqa: S101 - a dry run
                return Answer(f"```\n{render_text(planned.plan)[:LIMIT - 8]}\n```",
                              ephemeral=True)
            stack = options.get("stack") or None
            records = deploys.store.list_runs(stack=stack, limit=10)
            if command == "status":
                latest: dict[str, RunRecord] = {}
                for record in deploys.store.list_runs(stack=stack, limit=200):
                    for name in record.stacks:
                        latest.setdefault(name, record)
                records = [latest[name] for name in sorted(latest)]
            lines = [_line(r) for r in records] or ["no runs recorded yet"]
            return Answer("\n".join(lines)[:LIMIT], ephemeral=True)
        return Answer(f"unknown command {command!r}; the commands are "
                      f"{', '.join(COMMANDS)}", ephemeral=True)
    except ScopeDeniedError as exc:
        return Answer(f"⛔ {exc.message}", ephemeral=True)
    except ChatopsError as exc:
        return Answer(f"⛔ {exc.message}"[:LIMIT], ephemeral=True)
