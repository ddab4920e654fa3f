"""``chatops run``, ``rollback``, ``runs`` and ``logs``: deploys and their history."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chatops.cli.commands import load_or_explain
from chatops.errors import ChatopsError, IntentError, IntentNotFoundError
from chatops.intents.loader import IntentFile
from chatops.intents.model import IntentDoc
from chatops.planning import PlanContext, build_plan
from chatops.planning.render import render_text
from chatops.planning.steps import Plan
from chatops.repo import GitOpsRepo
from chatops.runner.executor import RunRequest
from chatops.runtime import Runtime
from chatops.settings import Settings
from chatops.store.records import RunStatus

#: Documented exit codes of ``chatops run`` and ``chatops rollback``.
EXIT_CODES = {
    RunStatus.succeeded: 0,
    RunStatus.failed: 1,
    RunStatus.rolled_back: 2,
    RunStatus.rollback_failed: 3,
    RunStatus.interrupted: 130,
}
EXIT_REFUSED = 4
NOTIFY_BUDGET = 5.0


def actor() -> str:
    try:
        return os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _log_target(settings: Settings) -> tuple[Path | None, bool]:
    """JSON log lines: CHATOPS_LOG_FILE; stderr for services and pipes; else a file."""
    if settings.log_file is not None:
        return settings.log_file, False
    if not sys.stderr.isatty():
        return None, True
    return settings.state_dir / "chatops.log", False


def _plan_context(settings: Settings, gitops: GitOpsRepo, rollback: bool) -> PlanContext:
    return PlanContext(repo=gitops, compose_command=settings.compose_command,
                       rollback=rollback, stable_for=settings.stability_window)


@contextlib.contextmanager
def _cancel_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM cancel the current task, so the run is recorded as interrupted."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        if task is not None:
            loop.add_signal_handler(sig, task.cancel)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def run_command(name: str, repo: Path | None, *, dry_run: bool, rollback: bool,
                wait: bool, sha: str | None = None, sync: bool = False) -> int:
    settings = Settings.from_env()
    gitops = GitOpsRepo.discover(repo)
    read = None
    if sha is not None or sync:
        # Decide from Git objects first; the checkout moves only for a run that executes.
        from chatops.gitops.sync import sync_from
        from chatops.intents.loader import parse_intent

        commits = sync_from(gitops.root, settings.git_remote, settings.deploy_branch)
        if not dry_run:
            commits.ensure_clean()
        commits.fetch()
        full = commits.resolve(sha)
        sha = full

        def read() -> IntentFile:
            raw = commits.intent_at(full, name)
            if raw is None:
                raise IntentNotFoundError(name, f"no intent named {name!r} at commit "
                                                f"{full[:12]}")
            return parse_intent(raw, label=f"{name}.yaml", name=name)

    intent = load_or_explain(gitops, name, "run", read)
    if intent is None:
        return EXIT_REFUSED
    plan = build_plan(intent, _plan_context(settings, gitops, rollback))
    if dry_run:
        sys.stdout.write(render_text(plan))
        return 0
    if read is not None and sha is not None:
        moved = commits.checkout_to(sha)
        sys.stderr.write(f"checkout at {moved.sha[:12]} ({settings.git_remote}/"
                         f"{settings.deploy_branch}){'' if moved.moved else ', unchanged'}\n")
    return execute_plan(settings, plan, wait=wait, sha=sha)


def rollback_command(stack: str, service: str | None, *, wait: bool) -> int:
    settings = Settings.from_env()
    runtime = Runtime.open(settings)
    try:
        good = runtime.store.good_snapshots(stack)
    finally:
        runtime.close()
    if not good:
        raise ChatopsError(f"no succeeded run of stack {stack!r} in the run history; "
                           "nothing to return to")
    _, snap = good[0]
    compose = Path(snap["compose_file"])
    try:
        doc = IntentDoc.model_validate({
            "label_required": "chatops-cli", "action": "rollback", "stack": stack,
            "service": service, "compose": str(compose), "health": snap.get("health", []),
        })
    except ValueError as exc:
        raise ChatopsError(f"cannot roll back {stack!r}: {exc}") from None
    intent = IntentFile(name=f"rollback-{stack}", path=compose,
                        description=f"chatops rollback {stack} (from the CLI)",
                        documents=(doc,))
    gitops = GitOpsRepo(compose.parent)
    plan = build_plan(intent, _plan_context(settings, gitops, True))
    return execute_plan(settings, plan, wait=wait)


def execute_plan(settings: Settings, plan: Plan, *, wait: bool, sha: str | None = None) -> int:
    from chatops.cli.progress import PlainProgress
    from chatops.logs import LogSink, json_logger

    runtime = Runtime.open(settings)
    path, to_stderr = _log_target(settings)
    logger = json_logger(path=path, stream=sys.stderr if to_stderr else None,
                         level=settings.log_level)
    sinks: list[Any] = [LogSink(logger, client="local")]
    targets = settings.deliverers()
    outbox = None
    if targets:
        from chatops.notify.outbox import Outbox
        from chatops.notify.sink import OutboxSink

        outbox = Outbox(settings.outbox_path)
        sinks.append(OutboxSink(outbox, targets, runtime.store, settings.public_url))
    live = None
    if sys.stdout.isatty():
        from chatops.cli.live import LiveProgress

        live = LiveProgress()
    sinks.append(live if live is not None else PlainProgress())
    try:
        with live if live is not None else contextlib.nullcontext():
            code = asyncio.run(_execute(runtime, plan, sinks, wait, sha))
        if outbox is not None:
            # One prompt try; what a slow or dead target refuses stays queued for the
            # service (or the next run), so a notification never holds a deploy up.
            with contextlib.suppress(TimeoutError):
                asyncio.run(asyncio.wait_for(outbox.deliver_due(targets), NOTIFY_BUDGET))
        return code
    finally:
        if outbox is not None:
            outbox.close()
        runtime.close()


async def _execute(runtime: Runtime, plan: Plan, sinks: list[Any], wait: bool,
                   sha: str | None = None) -> int:
    from chatops.engine.docker import DockerEngine

    engine = DockerEngine()
    executor = runtime.executor(engine, sinks)
    request = RunRequest(plan, trigger="cli", actor=actor(), client="local", wait=wait,
                         sha=sha)
    request.run_id = executor.create(request)
    try:
        with _cancel_on_signals():
            outcome = await executor.execute(request)
    except asyncio.CancelledError:
        sys.stderr.write(f"interrupted: run {request.run_id} recorded as interrupted\n")
        return EXIT_CODES[RunStatus.interrupted]
    finally:
        await engine.close()
    if outcome.refused:
        sys.stderr.write(f"error: {outcome.reason}\n")
        return EXIT_REFUSED
    return EXIT_CODES.get(outcome.status, 1)


def runs_command(*, intent: str | None, stack: str | None, status: str | None, limit: int,
                 json_output: bool) -> int:
    settings = Settings.from_env()
    runtime = Runtime.open(settings)
    try:
        records = runtime.store.list_runs(intent=intent, stack=stack, status=status,
                                          limit=limit)
    finally:
        runtime.close()
    if json_output:
        sys.stdout.write(json.dumps([r.as_dict(detail=False) for r in records], indent=2) + "\n")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"chatops runs ({settings.db_path})", title_justify="left")
    for column in ("id", "intent", "status", "stacks", "by", "started", "took", "reason"):
        table.add_column(column, overflow="fold")
    colours = {"succeeded": "green", "failed": "red", "rolled_back": "yellow",
               "rollback_failed": "bold red", "interrupted": "magenta", "running": "cyan"}
    for r in records:
        took = f"{r.duration:.1f}s" if r.duration is not None else ""
        started = (r.started_at or r.created_at)[:19].replace("T", " ")
        status = str(r.status)
        table.add_row(r.id, r.intent, f"[{colours.get(status, 'white')}]{status}[/]",
                      ", ".join(r.stacks), f"{r.actor} ({r.trigger})", started, took,
                      (r.reason or "")[:160])
    console = Console()
    if records:
        console.print(table)
    else:
        console.print("no runs recorded yet")
    return 0


def logs_command(run_id: str, *, follow: bool) -> int:
    settings = Settings.from_env()
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
                        keep_going: bool, dry_run: bool) -> int:
    """``chatops run A B C``: the intents and their dependencies, as a graph."""
    from chatops.errors import GraphError
    from chatops.runner.orchestrator import closure

    settings = Settings.from_env()
    gitops = GitOpsRepo.discover(repo)
    try:
        intents = closure(names, gitops.load_intent)
    except (GraphError, IntentNotFoundError) as exc:
        sys.stderr.write(f"error: {exc.message}; nothing was run\n")
        return EXIT_REFUSED
    except IntentError as exc:
        sys.stderr.write("error: an intent is invalid; nothing was run:\n")
        for problem in exc.problems:
            sys.stderr.write(f"  ✗ {problem.render()}\n")
        return EXIT_REFUSED
    plans = {n: build_plan(i, _plan_context(settings, gitops, rollback))
             for n, i in intents.items()}
    if dry_run:
        for plan in plans.values():
            sys.stdout.write(render_text(plan) + "\n")
        return 0
    from chatops.cli.progress import PlainProgress
    from chatops.logs import LogSink, json_logger

    runtime = Runtime.open(settings)
    path, to_stderr = _log_target(settings)
    logger = json_logger(path=path, stream=sys.stderr if to_stderr else None,
                         level=settings.log_level)
    sinks: list[Any] = [LogSink(logger, client="local")]
    fleet = None
    if sys.stdout.isatty():
        from chatops.cli.live import FleetProgress

        fleet = FleetProgress(list(plans))
        sinks.append(fleet)
    else:
        sinks.append(PlainProgress())
    try:
        with fleet if fleet is not None else contextlib.nullcontext():
            code, summary = asyncio.run(_orchestrate(runtime, intents, plans, sinks, names,
                                                     wait=wait, keep_going=keep_going,
                                                     max_parallel=settings.max_parallel))
    finally:
        runtime.close()
    from rich.console import Console
    from rich.table import Table

    table = Table(title=summary.text(), title_justify="left")
    for column in ("intent", "status", "run", "reason"):
        table.add_column(column, overflow="fold")
    for node in summary.nodes.values():
        table.add_row(node.name, node.status, node.run_id or "", (node.reason or "")[:160])
    Console().print(table)
    return code


async def _orchestrate(runtime: Runtime, intents: dict[str, Any], plans: dict[str, Plan],
                       sinks: list[Any], names: list[str], *, wait: bool, keep_going: bool,
                       max_parallel: int) -> tuple[int, Any]:
    from chatops.engine.docker import DockerEngine
    from chatops.runner.orchestrator import orchestrate

    engine = DockerEngine()
    executor = runtime.executor(engine, sinks)
    stacks = sorted({s.stack for p in plans.values() for s in p.steps})
    parent = runtime.store.create_run(
        intent="orchestrate:" + ",".join(names), trigger="cli", actor=actor(), client="local",
        stacks=stacks, plan={"orchestrate": list(plans)})
    liveness = runtime.locks.hold_run(parent.id)
    runtime.store.mark_running(parent.id)

    async def start(name: str) -> Any:
        request = RunRequest(plans[name], trigger="cli", actor=actor(), client="local",
                             wait=wait, parent_id=parent.id)
        request.run_id = executor.create(request)
        return await executor.execute(request)

    try:
        with _cancel_on_signals():
            summary = await orchestrate(intents, start, max_parallel=max_parallel,
                                        stop_on_failure=not keep_going)
    except asyncio.CancelledError:
        runtime.store.finish_run(parent.id, RunStatus.interrupted,
                                 "interrupted (signal) during the orchestration")
        liveness.release()
        raise
    finally:
        await engine.close()
    runtime.store.finish_run(parent.id, summary.status(), summary.text())
    liveness.release()
    return EXIT_CODES.get(summary.status(), 1), summary


def check_window(override: bool) -> None:
    """Refuse a deploy outside the deploy windows unless ``--override-window``."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    settings = Settings.from_env()
    now = datetime.now(ZoneInfo(settings.timezone))
    policy = settings.policy()
    if policy.is_open(now):
        return
    if override:
        sys.stderr.write("warning: deploying outside the deploy window (--override-window)\n")
        return
    nxt = policy.next_open(now)
    raise ChatopsError(f"deploys are closed at {now:%a %Y-%m-%d %H:%M %Z}; next open: "
                       f"{nxt.isoformat() if nxt else 'not scheduled (a freeze is in force)'}"
                       "; --override-window deploys anyway")
