"""``chatops run``, ``rollback``, ``runs`` and ``logs``: deploys and their history."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chatops.application.deploys import Planned, RunAsk
from chatops.cli.client import EXIT_REFUSED, actor, exit_code
from chatops.cli.config import current_settings
from chatops.errors import ChatopsError
from chatops.planning.render import render_text
from chatops.repo import GitOpsRepo
from chatops.runtime import Runtime
from chatops.settings import Settings
from chatops.store.records import RunStatus


def _log_target(settings: Settings) -> tuple[Path | None, bool]:
    """JSON log lines: CHATOPS_LOG_FILE; stderr for services and pipes; else a file."""
    if settings.log_file is not None:
        return settings.log_file, False
    if not sys.stderr.isatty():
        return None, True
    return settings.paths.log, False


def has_dependencies(name: str, repo: Path | None) -> bool:
    """Whether intent ``name`` runs as a graph (its ``depends_on``); an intent that cannot
    be read is for the run to report."""
    try:
        return bool(GitOpsRepo.discover(repo).load_intent(name).depends_on)
    except ChatopsError:
        return False


def run_command(name: str, repo: Path | None, *, dry_run: bool, rollback: bool,
                wait: bool, sha: str | None = None, sync: bool = False,
                override_window: bool = False) -> int:
    """``chatops run NAME`` in this process, through the same use case as the service."""
    settings = current_settings()
    gitops = GitOpsRepo.discover(repo)
    ask = RunAsk(name=name, sha=sha, dry_run=dry_run, queue=wait, rollback=rollback)
    with _progress(settings, live_rows=None) as sinks:
        return asyncio.run(_run(settings, gitops, ask, sinks, sync=sync or sha is not None,
                                override_window=override_window))


async def _run(settings: Settings, gitops: GitOpsRepo, ask: RunAsk, sinks: list[Any], *,
               sync: bool, override_window: bool) -> int:
    from chatops.cli.local import Local, explain, operator

    async with Local.open(settings, gitops, sync=sync, sinks=sinks) as local:
        try:
            outcome = await local.run(operator(actor(), override_window, "run"), ask)
        except ChatopsError as exc:
            return explain(exc)
        if isinstance(outcome, Planned):
            sys.stdout.write(render_text(outcome.plan))
            return 0
        if outcome.record.status is RunStatus.awaiting_approval:
            from chatops.cli.remote import awaiting

            sys.stderr.write(awaiting(outcome.record.id))
        elif outcome.record.sha is not None and sync:
            sys.stderr.write(f"checkout at {outcome.record.sha[:12]} ({settings.git_remote}/"
                             f"{settings.deploy_branch})\n")
        status = await local.finish(outcome.record.id)
        if status is RunStatus.queued:  # pragma: no cover - finish waits for the end
            return EXIT_REFUSED
        if local.deploys.store.children(outcome.record.id):  # a rolling deploy: per host
            ended = local.deploys.store.get_run(outcome.record.id, detail=False)
            sys.stdout.write(f"{ended.status}: {ended.reason}\n")
        return exit_code(status)


def rollback_command(stack: str, service: str | None, *, wait: bool) -> int:
    """``chatops rollback STACK``: back to the images of the previous good deploy."""
    settings = current_settings()
    with _progress(settings, live_rows=None) as sinks:
        return asyncio.run(_rollback(settings, stack, service, sinks, wait=wait))


async def _rollback(settings: Settings, stack: str, service: str | None, sinks: list[Any],
                    *, wait: bool) -> int:
    from chatops.cli.local import Local, explain, operator

    repo = GitOpsRepo(settings.state_dir)  # a rollback reads no intent
    async with Local.open(settings, repo, sync=False, sinks=sinks) as local:
        try:
            started = await local.deploys.roll_back(operator(actor(), False, "rollback"),
                                                    stack, service, queue=wait)
        except ChatopsError as exc:
            return explain(exc)
        return exit_code(await local.finish(started.record.id))


def maintenance_command(stack: str, service: str | None, *, paused: bool) -> int:
    """``chatops pause STACK`` / ``resume STACK`` in this process."""
    settings = current_settings()
    return asyncio.run(_maintenance(settings, stack, service, paused=paused))


async def _maintenance(settings: Settings, stack: str, service: str | None, *,
                       paused: bool) -> int:
    from chatops.cli.local import Local, explain, operator

    repo = GitOpsRepo(settings.state_dir)  # reads no intent: the run history knows
    async with Local.open(settings, repo, sync=False, sinks=[]) as local:
        try:
            answer = await local.deploys.maintenance(
                operator(actor(), False, "pause" if paused else "resume"), stack, service,
                paused=paused)
        except ChatopsError as exc:
            return explain(exc)
    sys.stdout.write(answer["message"] + "\n")
    return 0


def signal_command(run_id: str, word: str) -> int:
    """``chatops promote RUN`` / ``abort RUN`` in this process (the run's own process,
    or the service, reads the word from the run history)."""
    settings = current_settings()
    return asyncio.run(_signal(settings, run_id, word))


async def _signal(settings: Settings, run_id: str, word: str) -> int:
    from chatops.cli.local import Local, explain, operator

    repo = GitOpsRepo(settings.state_dir)
    async with Local.open(settings, repo, sync=False, sinks=[]) as local:
        try:
            record = await local.deploys.signal(operator(actor(), False, word), run_id, word)
        except ChatopsError as exc:
            return explain(exc)
    sys.stdout.write(f"{word}: run {record.id} ({record.intent}) told\n")
    return 0


def verdict_command(run_id: str, word: str, sha: str | None) -> int:
    """``chatops approve RUN`` / ``deny RUN`` in this process (the process that holds the
    run reads the word from the run history)."""
    settings = current_settings()
    return asyncio.run(_verdict(settings, run_id, word, sha))


async def _verdict(settings: Settings, run_id: str, word: str, sha: str | None) -> int:
    from chatops.cli.local import Local, explain, operator

    repo = GitOpsRepo(settings.state_dir)
    async with Local.open(settings, repo, sync=False, sinks=[]) as local:
        try:
            vote = await local.deploys.approve(operator(actor(), False, word), run_id, word,
                                               sha)
        except ChatopsError as exc:
            return explain(exc)
    sys.stdout.write(vote.text().replace("`", "") + "\n")
    return 0


@contextlib.contextmanager
def _progress(settings: Settings, live_rows: list[str] | None) -> Iterator[list[Any]]:
    """The run-event sinks of a CLI run: JSON log lines, and the progress view (live on
    a terminal, one row per intent for a graph; plain lines otherwise)."""
    from chatops.cli.progress import PlainProgress
    from chatops.logs import LogSink, json_logger
    from chatops.masking import Masker

    path, to_stderr = _log_target(settings)
    logger = json_logger(path=path, stream=sys.stderr if to_stderr else None,
                         level=settings.log_level, masker=Masker(settings.secret_values()))
    sinks: list[Any] = [LogSink(logger, client="local")]
    view: Any = None
    if sys.stdout.isatty():
        from chatops.cli.live import FleetProgress, LiveProgress

        view = FleetProgress(live_rows) if live_rows is not None else LiveProgress()
    sinks.append(view if view is not None else PlainProgress())
    with view if view is not None else contextlib.nullcontext():
        yield sinks


def logs_command(run_id: str, *, follow: bool) -> int:
    settings = current_settings()
    runtime = Runtime.open(settings)
    out = sys.stdout
    try:
        record = runtime.store.get_run(run_id, detail=False)
        out.write(f"run {record.id}: intent {record.intent}, {record.status}"
                  f" (by {record.actor} via {record.trigger})\n")
        last = 0
        while True:
            for line in runtime.store.lines(run_id, after=last):
                last = line["id"]
                out.write(f"{line['ts'][11:23]} {line['stream']:<7} {line['line']}\n")
            out.flush()
            record = runtime.store.get_run(run_id, detail=False)
            if not follow or record.status.final:
                break
            time.sleep(0.2)
            runtime.recover()
        if record.status.final:
            reason = f": {record.reason}" if record.reason else ""
            out.write(f"{record.status}{reason}\n")
    finally:
        runtime.close()
    return 0


def orchestrate_command(names: list[str], repo: Path | None, *, rollback: bool, wait: bool,
                        keep_going: bool, dry_run: bool, override_window: bool = False) -> int:
    """``chatops run A B C``: the intents and their dependencies, as a graph."""
    settings = current_settings()
    gitops = GitOpsRepo.discover(repo)
    rows = None if dry_run else list(dict.fromkeys(names))
    with _progress(settings, live_rows=rows) as sinks:
        code, summary = asyncio.run(_orchestrate(
            settings, gitops, names, sinks, dry_run=dry_run, keep_going=keep_going,
            rollback=rollback, wait=wait, override_window=override_window))
    if summary is None:
        return code
    from rich.console import Console
    from rich.table import Table

    table = Table(title=summary.text(), title_justify="left")
    for column in ("intent", "status", "run", "reason"):
        table.add_column(column, overflow="fold")
    for node in summary.nodes.values():
        table.add_row(node.name, node.status, node.run_id or "", (node.reason or "")[:160])
    Console().print(table)
    return code


async def _orchestrate(settings: Settings, gitops: GitOpsRepo, names: list[str],
                       sinks: list[Any], *, dry_run: bool, keep_going: bool, rollback: bool,
                       wait: bool, override_window: bool) -> tuple[int, Any]:
    from chatops.cli.local import Local, explain, operator

    async with Local.open(settings, gitops, sync=False, sinks=sinks) as local:
        caller = operator(actor(), override_window, "run")
        try:
            graph = await local.orchestrate(caller, list(names), dry_run=dry_run,
                                            keep_going=keep_going, rollback=rollback,
                                            wait=wait)
        except ChatopsError as exc:
            return explain(exc), None
        if graph.parent is None:
            for plan in graph.plans.values():
                sys.stdout.write(render_text(plan) + "\n")
            return 0, None
        summary = await local.finish_graph(graph)
        if summary is None:
            return exit_code(RunStatus.interrupted), None
        return exit_code(summary.status()), summary
