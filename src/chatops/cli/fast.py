"""The commands a running service answers, without importing Click: ``chatops run NAME``
and ``chatops runs`` in their usual forms cost the service's time and little more. The
requests and the output are the Click commands' own; any other form (another option,
``--local``, ``--help``, a value out of range) is left to Click (None)."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from chatops.cli.client import ServiceClient

#: ``chatops runs --status``'s choices (Click's, for the same refusals).
STATUSES = frozenset({"queued", "running", "succeeded", "failed", "rolled_back",
                      "rollback_failed", "interrupted", "awaiting_approval", "denied",
                      "expired", "superseded"})


def read_options(args: Iterable[str], valued: Iterable[str], flags: Iterable[str] = ()
                 ) -> tuple[dict[str, str], set[str], list[str]] | None:
    """(``--name value`` options, ``--flag`` flags, the other words), or None for a form
    this reader does not take (an unknown option, a missing or empty value)."""
    valued, flags = set(valued), set(flags)
    values: dict[str, str] = {}
    seen: set[str] = set()
    words: list[str] = []
    rest = iter(args)
    for arg in rest:
        name, eq, value = arg.partition("=")
        if name in valued:
            found = value if eq else next(rest, "")
            if not found:
                return None
            values[name] = found
        elif arg in flags:
            seen.add(arg)
        elif arg.startswith("-"):
            return None
        else:
            words.append(arg)
    return values, seen, words


def through_the_service(args: list[str]) -> int | None:
    if len(args) < 1 or args[0] not in ("run", "runs"):
        return None
    try:
        return _run(args[1:]) if args[0] == "run" else _runs(args[1:])
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except OSError as exc:
        sys.stderr.write(f"error: the chatops service stopped answering: {exc}\n")
        return 4


def _run(args: list[str]) -> int | None:
    """``chatops run NAME [--repo DIR] [--sha SHA] [--no-wait] [--no-rollback]``."""
    read = read_options(args, ("--sha", "--repo"), ("--no-wait", "--no-rollback"))
    if read is None or len(read[2]) != 1:
        return None  # a graph of intents, or another form: Click decides
    values, flags, (name,) = read
    from pathlib import Path

    from chatops.cli.client import connect

    repo = values.get("--repo")
    client = connect(local=False, repo=Path(repo) if repo else None, intent=name)
    if client is None:
        return None
    from chatops.cli import remote

    return remote.run_names(client, [name], dry_run=False,
                            rollback="--no-rollback" not in flags,
                            wait="--no-wait" not in flags, sha=values.get("--sha"),
                            keep_going=False)


def _runs(args: list[str]) -> int | None:
    """``chatops runs [--intent I] [--stack S] [--status S] [--limit N] [--format F]``."""
    read = read_options(args, ("--intent", "--stack", "--status", "--limit", "--format"))
    if read is None or read[2]:
        return None
    values = read[0]
    limit = values.get("--limit", "20")
    output = values.get("--format", "text")
    if (not limit.isdigit() or not 1 <= int(limit) <= 500 or output not in ("text", "json")
            or values.get("--status", "running") not in STATUSES):
        return None
    from chatops.cli.client import connect

    client = connect(local=False)
    if client is None:
        return None
    return _print(client, values, int(limit), output == "json")


def _print(client: ServiceClient, values: dict[str, str], limit: int, json_output: bool
           ) -> int:
    from chatops.cli import remote
    from chatops.cli.views import print_runs

    found = remote.runs(client, intent=values.get("--intent"), stack=values.get("--stack"),
                        status=values.get("--status"), limit=limit)
    if isinstance(found, int):
        return found
    return print_runs(found, json_output=json_output, where=f"service pid {client.pid}")
