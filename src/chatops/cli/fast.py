"""``chatops run NAME`` and ``chatops runs`` in their usual forms, without importing
Click: through a running service they cost the service's time and little more, and
``chatops run NAME`` with no service (or ``--local``) starts its run here sooner. The
requests, the runs and the output are the Click commands' own; any other form (another
option, several names or an intent with ``depends_on``, ``--help``, a value out of range)
is left to Click (None)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

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


def without_click(args: list[str]) -> int | None:
    """The exit code of ``args`` run here, or None for Click to run them."""
    if args[:1] == ["run"]:
        return _run(args[1:])
    if args[:1] == ["runs"]:
        return _runs(args[1:])
    return None


def _served(call: Callable[[], int]) -> int:
    """A command the service answers: its exit code, or why the service did not."""
    try:
        return call()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except OSError as exc:
        sys.stderr.write(f"error: the chatops service stopped answering: {exc}\n")
        return 4


def _run(args: list[str]) -> int | None:
    """``chatops run NAME [--repo DIR] [--sha SHA] [--no-wait] [--no-rollback] [--local]``."""
    read = read_options(args, ("--sha", "--repo"), ("--no-wait", "--no-rollback", "--local"))
    if read is None or len(read[2]) != 1:
        return None  # several intents, or another form: Click decides
    values, flags, (name,) = read
    from pathlib import Path

    from chatops.cli.client import connect

    repo = Path(values["--repo"]) if "--repo" in values else None
    if repo is not None and repo.is_file():
        return None  # Click's usage error, as for every command's --repo
    rollback = "--no-rollback" not in flags
    wait = "--no-wait" not in flags
    sha = values.get("--sha")
    client = connect(local="--local" in flags, repo=repo, intent=name)
    if client is not None:
        from chatops.cli import remote

        return _served(lambda: remote.run_names(client, [name], dry_run=False,
                                                rollback=rollback, wait=wait, sha=sha,
                                                keep_going=False))
    from chatops.cli.running import has_dependencies, run_command

    if has_dependencies(name, repo):
        return None  # a graph: Click's orchestration
    return run_command(name, repo, dry_run=False, rollback=rollback, wait=wait, sha=sha)


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
    return _served(lambda: _print(client, values, int(limit), output == "json"))


def _print(client: ServiceClient, values: dict[str, str], limit: int, json_output: bool
           ) -> int:
    from chatops.cli import remote
    from chatops.cli.views import print_runs

    found = remote.runs(client, intent=values.get("--intent"), stack=values.get("--stack"),
                        status=values.get("--status"), limit=limit)
    if isinstance(found, int):
        return found
    return print_runs(found, json_output=json_output, where=f"service pid {client.pid}")
