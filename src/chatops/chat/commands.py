"""The chat commands, whatever the platform: ``deploy``, ``rollback``, ``status``, ``runs``
and ``plan``, each one call of a use case, answered in text."""

from __future__ import annotations

from msgspec import Struct
from msgspec.structs import replace

from chatops.application.caller import Caller
from chatops.application.deploys import Deploys, Planned, RunAsk, Started
from chatops.errors import ChatopsError, ScopeDeniedError
from chatops.planning.render import render_text
from chatops.store.records import RunRecord, RunStatus
from chatops.store.summaries import traffic_summary

COMMANDS = ("deploy", "rollback", "status", "runs", "plan")
#: Each command's options: (name, what it is, required).
OPTIONS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "deploy": (("intent", "the intent to run", True),
               ("sha", "the commit to deploy (default: the branch head)", False)),
    "rollback": (("stack", "the stack to return to its previous good deploy", True),),
    "status": (("stack", "only this stack", False),),
    "runs": (),
    "plan": (("intent", "the intent to plan", True),
             ("sha", "the commit to plan at (default: the branch head)", False)),
}
DESCRIPTIONS = {
    "deploy": "Deploy an intent (the same checks and audit as POST /run)",
    "rollback": "Return a stack to its previous good deploy",
    "status": "The last run of each stack",
    "runs": "The ten newest runs",
    "plan": "What an intent would do (a dry run)",
}
ICONS = {"succeeded": "✅", "failed": "❌", "rolled_back": "↩️", "rollback_failed": "⚠️",
         "interrupted": "⏹️", "running": "⏳", "queued": "⏳", "awaiting_approval": "🔐",
         "denied": "⛔", "expired": "⌛", "superseded": "⏭️"}
LIMIT = 1900  # Discord's message is 2,000 characters


class Answer(Struct, frozen=True):
    text: str
    ephemeral: bool = False
    run_id: str | None = None  # a run started: its outcome follows


def _line(record: RunRecord, room: int = 300) -> str:
    icon = ICONS.get(str(record.status), "•")
    text = f"{icon} `{record.id}` {record.intent} on {', '.join(record.stacks)}: " \
        f"{record.status} (by {record.actor} via {record.trigger})"
    extra = record.reason or traffic_summary(record.traffic)
    if extra and " | " in extra and record.stacks and "@" in record.stacks[0]:
        head, *hosts = extra.split(" | ")  # a rolling deploy: one line per host
        extra = head + "".join(f"\n    • {h}" for h in hosts)
    return text + (f"\n    {extra[:room]}" if extra else "")


def outcome(record: RunRecord) -> str:
    """The message a run's end leaves in chat (a rolling deploy's: each host's line)."""
    return _line(record, room=LIMIT)[:LIMIT]


async def handle(deploys: Deploys, caller: Caller, command: str,
                 options: dict[str, str]) -> Answer:
    """Run one chat command for ``caller``; a refusal is an ephemeral answer (the use
    case audited it). No secret the service knows is in the answer."""
    answer = await _handle(deploys, caller, command, options)
    return replace(answer, text=deploys.ctx.runtime.masker.mask(answer.text))


async def _handle(deploys: Deploys, caller: Caller, command: str,
                  options: dict[str, str]) -> Answer:
    if command not in OPTIONS:
        return Answer(f"unknown command {command!r}; the commands are "
                      f"{', '.join(COMMANDS)}", ephemeral=True)
    known = {name for name, _, _ in OPTIONS[command]}
    unknown = sorted(set(options) - known)
    missing = [name for name, _, required in OPTIONS[command]
               if required and not options.get(name)]
    if unknown or missing:
        usage = " ".join(f"{n}" if r else f"[{n}]" for n, _, r in OPTIONS[command])
        what = f"unknown option {unknown[0]!r}" if unknown else f"missing {missing[0]}"
        return Answer(f"⛔ {what}; usage: {command} {usage}".rstrip(), ephemeral=True)
    try:
        if command == "deploy":
            sha = options.get("sha") or None
            started = await deploys.run(caller, RunAsk(name=options.get("intent", ""),
                                                        sha=sha, branch_head=sha is None))
            assert isinstance(started, Started)  # noqa: S101 - not a dry run
            waits = started.record.status is RunStatus.awaiting_approval
            return Answer(f"{'🔐' if waits else '🚀'} deploying {started.record.intent}"
                          f"{_at(started.record.sha, sha)} (run `{started.record.id}`)"
                          + ("; it waits for its approvals" if waits else "")
                          + "; its outcome follows here", run_id=started.record.id)
        if command == "rollback":
            started = await deploys.roll_back(caller, options.get("stack", ""))
            return Answer(f"↩️ rolling back {options.get('stack')} (run "
                          f"`{started.record.id}`); its outcome follows here",
                          run_id=started.record.id)
        if command in ("status", "runs", "plan"):
            deploys.may_read(caller, command)
            if command == "plan":
                sha = options.get("sha") or None
                planned = await deploys.run(caller, RunAsk(name=options.get("intent", ""),
                                                           sha=sha, dry_run=True,
                                                           branch_head=sha is None))
                assert isinstance(planned, Planned)  # noqa: S101 - a dry run
                head = f"plan of {planned.intent}{_at(planned.sha, sha)}\n"
                return Answer(f"{head}```\n{render_text(planned.plan)[:LIMIT - 80]}\n```",
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
        raise AssertionError(command)  # pragma: no cover - OPTIONS lists every command
    except ScopeDeniedError as exc:
        return Answer(f"⛔ {exc.message}", ephemeral=True)
    except ChatopsError as exc:
        return Answer(f"⛔ {exc.message}"[:LIMIT], ephemeral=True)


def _at(full: str | None, asked: str | None) -> str:
    """Which commit a run or plan is for, as a person reads it."""
    if not full:
        return ""
    return f" at commit `{full[:12]}`" + ("" if asked else " (the deploy branch's head)")


def discord_commands() -> list[dict[str, object]]:
    """The application commands, as Discord's bulk-overwrite endpoint takes them."""
    return [{
        "name": name, "type": 1, "description": DESCRIPTIONS[name],
        "options": [{"name": option, "description": what, "type": 3, "required": required,
                     "autocomplete": option in ("intent", "stack")}
                    for option, what, required in OPTIONS[name]],
    } for name in COMMANDS]
