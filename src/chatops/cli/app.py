"""The command-line interface (Click): one function per command; the work lives in the library.

Click rather than Typer: Typer builds its parameter converters with pydantic at every
start, which costs more than the whole of ``chatops validate`` on a thousand files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from chatops import __version__
from chatops.cli.groups import GROUPS
from chatops.cli.options import format_option as _format_option
from chatops.cli.options import repo_option as _repo_option


@click.group(
    name="chatops",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", "-V", prog_name="chatops",
                      message="%(prog)s %(version)s")
def app() -> None:
    """GitOps for Docker Compose hosts: validate intents, plan and run deploys."""
    _recover_interrupted_runs()


def _recover_interrupted_runs() -> None:
    """Any command notices runs whose process died, if this host keeps a run history."""
    import os

    from chatops.paths import StatePaths, run_markers_present

    state = StatePaths.resolve()
    db = state.db
    # A run holds a marker file while it runs; markers left behind are dead runs.
    if not run_markers_present(state.locks) or not os.access(db, os.W_OK):
        return
    from chatops.errors import ChatopsError
    from chatops.locks import Locks
    from chatops.store.sqlite import RunStore

    locks = Locks(state.locks)

    try:
        store = RunStore(db)
        try:
            store.recover_interrupted(locks.run_alive)
        finally:
            store.close()
    except ChatopsError as exc:  # the command itself may not need the history
        click.echo(f"warning: {exc.message}", err=True)


@app.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_repo_option
@_format_option
@click.option("--check-compose", is_flag=True,
              help="Also run 'docker compose -f FILE config --quiet' on each compose file.")
def validate(paths: tuple[Path, ...], repo: Path | None, output: str, check_compose: bool) -> None:
    """Check intent files: fields, YAML safety, dependencies.

    PATHS are intent files or folders (default: chatops/intents of the repository).
    Exit code 0 when all are valid, 1 otherwise.
    """
    from chatops.cli.commands import validate_command

    raise SystemExit(validate_command(list(paths), repo, json_output=output == "json",
                                      check_compose=check_compose))


@app.command()
@click.argument("name", required=False)
@_repo_option
@_format_option
@click.option("--no-rollback", is_flag=True, help="Plan without automatic rollback.")
@click.option("--local", is_flag=True,
              help="Run in this process even when a chatops service runs on this host.")
@click.option("--pr", "pull", type=click.IntRange(1, 10**9 - 1), default=None,
              help="Plan every intent pull request PR affects, and post (or update) the "
              "plan as its one chatops comment (CHATOPS_GITHUB_REPO, CHATOPS_GITHUB_TOKEN).")
@click.option("--base", default=None, help="With --pr: the base commit (default: "
              "origin/<deploy branch>).")
@click.option("--head", default="HEAD", show_default=True, help="With --pr: the head commit.")
@click.option("--no-comment", is_flag=True, help="With --pr: print the comment, post nothing.")
def plan(  # noqa: PLR0917 - Click passes options positionally
    name: str | None, repo: Path | None, output: str, no_rollback: bool, local: bool,
    pull: int | None, base: str | None, head: str, no_comment: bool,
) -> None:
    """Dry run: print every step a run of intent NAME would take. Changes nothing.

    With --pr N (from the validate workflow), plan every intent the pull request
    affects and keep one comment on it up to date."""
    if pull is not None:
        if name is not None:
            raise click.UsageError("give an intent NAME or --pr, not both")
        from chatops.cli.commands import plan_pr_command

        raise SystemExit(plan_pr_command(pull, repo, base=base, head=head,
                                         comment=not no_comment))
    if name is None:
        raise click.UsageError("missing argument NAME (or --pr N)")
    from chatops.cli.client import connect

    client = None if no_rollback else connect(local=local, repo=repo)
    if client is not None:
        from chatops.cli import remote

        raise SystemExit(remote.plan(client, name, json_output=output == "json"))
    from chatops.cli.commands import plan_command

    raise SystemExit(plan_command(name, repo, json_output=output == "json",
                                  rollback=not no_rollback))


@app.command()
def schema() -> None:
    """Print the JSON Schema of an intent document (for editors and yaml-language-server)."""
    from chatops.cli.commands import schema_command

    raise SystemExit(schema_command())


@app.command()
@click.argument("names", nargs=-1, required=True)
@_repo_option
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@click.option("--no-rollback", is_flag=True, help="Leave a failed change in place.")
@click.option("--no-wait", is_flag=True,
              help="Refuse (exit 4) instead of waiting when a stack is busy.")
@click.option("--sha", default=None,
              help="Deploy this commit: fetch, check it is on the deploy branch, check it out.")
@click.option("--sync", is_flag=True, help="Fetch and check out the deploy branch head first.")
@click.option("--keep-going", is_flag=True,
              help="With several intents: start independent ones after a failure.")
@click.option("--override-window", is_flag=True,
              help="Deploy even outside CHATOPS_DEPLOY_WINDOWS or during CHATOPS_FREEZE.")
@click.option("--local", is_flag=True,
              help="Run in this process even when a chatops service runs on this host.")
def run(  # noqa: PLR0917 - Click passes options positionally
    names: tuple[str, ...], repo: Path | None, dry_run: bool, no_rollback: bool,
    no_wait: bool, sha: str | None, sync: bool, keep_going: bool, override_window: bool,
    local: bool,
) -> None:
    """Deploy intent NAME: snapshot, change, verify health, roll back on failure.

    With several names (or an intent with depends_on), run them and everything they
    depend on as a graph: independent intents in parallel (CHATOPS_MAX_PARALLEL), a
    failure skipping what depends on it.

    \b
    Exit codes: 0 succeeded, 1 failed, 2 rolled back, 3 rollback failed,
    4 invalid input or refused, 130 interrupted.

    When a chatops service runs on this host (for the same repository), the run goes
    through it, so it queues with the service's runs and shows in its history as
    "via cli"; --local runs it in this process.
    """
    if (len(names) > 1 or keep_going) and (sha is not None or sync):
        raise click.UsageError("--sha and --sync take one intent")
    from chatops.cli.client import connect

    client = connect(local=local, override_window=override_window, repo=repo,
                     intent=names[0] if len(names) == 1 else None)
    if client is not None:
        from chatops.cli import remote

        raise SystemExit(remote.run_names(client, list(names), dry_run=dry_run,
                                          rollback=not no_rollback, wait=not no_wait,
                                          sha=sha, keep_going=keep_going))
    from chatops.cli.running import has_dependencies, orchestrate_command, run_command

    if len(names) > 1 or (not dry_run and has_dependencies(names[0], repo)):
        if sha is not None or sync:
            raise click.UsageError("--sha and --sync take one intent")
        raise SystemExit(orchestrate_command(list(names), repo, rollback=not no_rollback,
                                             wait=not no_wait, keep_going=keep_going,
                                             dry_run=dry_run,
                                             override_window=override_window))
    raise SystemExit(run_command(names[0], repo, dry_run=dry_run, rollback=not no_rollback,
                                 wait=not no_wait, sha=sha, sync=sync,
                                 override_window=override_window))


@app.command()
@click.argument("stack")
@click.option("--service", default=None, help="Only this service.")
@click.option("--no-wait", is_flag=True, help="Refuse instead of waiting when the stack is busy.")
@click.option("--local", is_flag=True,
              help="Run in this process even when a chatops service runs on this host.")
def rollback(stack: str, service: str | None, no_wait: bool, local: bool) -> None:
    """Return STACK to the images of its last succeeded run (that differ from now)."""
    from chatops.cli.client import connect

    client = connect(local=local)
    if client is not None:
        from chatops.cli import remote

        raise SystemExit(remote.rollback(client, stack, service, wait=not no_wait))
    from chatops.cli.running import rollback_command

    raise SystemExit(rollback_command(stack, service, wait=not no_wait))


def _signal(run_id: str, word: str, local: bool) -> None:
    from chatops.cli.client import connect

    client = connect(local=local)
    if client is not None:
        from chatops.cli import remote

        raise SystemExit(remote.signal(client, run_id, word))
    from chatops.cli.running import signal_command

    raise SystemExit(signal_command(run_id, word))


SHA_HELP = "The commit you approve: refused unless it is the run's."


def _on_a_run(*, sha: bool = False) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A command about one run: RUN_ID, ``--local`` (and ``--sha`` for a verdict)."""

    def command(function: Callable[..., None]) -> Callable[..., None]:
        function = click.option("--local", is_flag=True, help="Act in this process even "
                                "when a chatops service runs on this host.")(function)
        if sha:
            function = click.option("--sha", default=None, help=SHA_HELP)(function)
        return app.command()(click.argument("run_id")(function))

    return command


@_on_a_run()
def promote(run_id: str, local: bool) -> None:
    """End the current step of canary run RUN_ID now: on to its next weight."""
    _signal(run_id, "promote", local)


@_on_a_run()
def abort(run_id: str, local: bool) -> None:
    """Stop canary run RUN_ID: every request back to the stable slot, run rolled back."""
    _signal(run_id, "abort", local)


def _verdict(run_id: str, word: str, sha: str | None, local: bool) -> None:
    from chatops.cli.client import connect

    client = connect(local=local)
    if client is not None:
        from chatops.cli import remote

        raise SystemExit(remote.verdict(client, run_id, word, sha))
    from chatops.cli.running import verdict_command

    raise SystemExit(verdict_command(run_id, word, sha))



@_on_a_run(sha=True)
def approve(run_id: str, sha: str | None, local: bool) -> None:
    """Approve RUN_ID, a run that waits for its approvals (as this host's operator)."""
    _verdict(run_id, "approve", sha, local)


@_on_a_run(sha=True)
def deny(run_id: str, sha: str | None, local: bool) -> None:
    """Deny RUN_ID, a run that waits for its approvals: it ends denied, nothing changed."""
    _verdict(run_id, "deny", sha, local)


def _maintenance(stack: str, service: str | None, local: bool, *, paused: bool) -> None:
    from chatops.cli.client import connect

    client = connect(local=local)
    if client is not None:
        from chatops.cli import remote

        raise SystemExit(remote.maintenance(client, stack, service, paused=paused))
    from chatops.cli.running import maintenance_command

    raise SystemExit(maintenance_command(stack, service, paused=paused))


def _on_a_service(function: Callable[..., None]) -> Callable[..., None]:
    """A command about one blue-green service: STACK, ``--service``, ``--local``."""
    function = click.option("--local", is_flag=True, help="Act in this process even when a "
                            "chatops service runs on this host.")(function)
    function = click.option("--service", default=None,
                            help="Its blue-green service (default: the newest).")(function)
    return app.command()(click.argument("stack")(function))


@_on_a_service
def pause(stack: str, service: str | None, local: bool) -> None:
    """Hold STACK's blue-green service in maintenance: its proxy answers every request
    503 with the intent's traffic.message, until 'chatops resume'."""
    _maintenance(stack, service, local, paused=True)


@_on_a_service
def resume(stack: str, service: str | None, local: bool) -> None:
    """Send a paused STACK's traffic to its live slot again."""
    _maintenance(stack, service, local, paused=False)


@app.command()
@click.option("--intent", default=None, help="Only runs of this intent.")
@click.option("--stack", default=None, help="Only runs that touched this stack.")
@click.option("--status", default=None,
              type=click.Choice(["queued", "running", "succeeded", "failed", "rolled_back",
                                 "rollback_failed", "interrupted", "awaiting_approval",
                                 "denied", "expired", "superseded"]))
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10000))
@_format_option
@click.option("--local", is_flag=True,
              help="Run in this process even when a chatops service runs on this host.")
def runs(  # noqa: PLR0917 - Click passes options positionally
    intent: str | None, stack: str | None, status: str | None, limit: int,
    output: str, local: bool,
) -> None:
    """List recorded runs, newest first."""
    from chatops.cli.client import connect
    from chatops.cli.views import print_runs

    client = connect(local=local) if limit <= 500 else None
    if client is not None:
        from chatops.cli import remote

        found = remote.runs(client, intent=intent, stack=stack, status=status, limit=limit)
        if isinstance(found, int):
            raise SystemExit(found)
        raise SystemExit(print_runs(found, json_output=output == "json",
                                    where=f"service pid {client.pid}"))
    from chatops.cli.views import runs_command

    raise SystemExit(runs_command(intent=intent, stack=stack, status=status, limit=limit,
                                  json_output=output == "json"))


@app.command()
@click.argument("run_id")
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the run ends.")
@click.option("--local", is_flag=True,
              help="Run in this process even when a chatops service runs on this host.")
def logs(run_id: str, follow: bool, local: bool) -> None:
    """Show the output of run RUN_ID."""
    from chatops.cli.client import connect

    client = connect(local=local) if follow else None
    if client is not None:
        from chatops.cli import remote

        raise SystemExit(remote.logs(client, run_id))
    from chatops.cli.running import logs_command

    raise SystemExit(logs_command(run_id, follow=follow))


@app.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", default=None, type=click.IntRange(1, 65535),
              help="Port (default 8000).")
@_repo_option
def serve(host: str | None, port: int | None, repo: Path | None) -> None:
    """Serve the HTTP API (POST /run and friends) for the GitOps repository."""
    from chatops.server.serve import serve as run_server
    from chatops.settings import load_settings

    settings = load_settings(host=host, port=port, repo=repo)
    raise SystemExit(run_server(settings))


@app.command()
@click.option("--base", required=True, help="Commit before the change.")
@click.option("--head", "head", required=True, help="Commit after the change.")
@_repo_option
@_format_option
def affected(base: str, head: str, repo: Path | None, output: str) -> None:
    """Print the intents a change affects (their files or stack's), dependencies first."""
    from chatops.cli.commands import affected_command

    raise SystemExit(affected_command(base, head, repo, json_output=output == "json"))


@app.command()
@click.argument("name")
@click.option("--url", required=True, envvar="CHATOPS_URL",
              help="The chatops service, e.g. http://whitebox.ts.net:8000 ($CHATOPS_URL).")
@click.option("--sha", envvar="GITHUB_SHA", help="The commit to deploy (default: $GITHUB_SHA).")
@click.option("--wait", is_flag=True, help="Follow the run's log and exit with its outcome.")
@click.option("--timeout", default=1800.0, show_default=True, type=click.FloatRange(1, 86400),
              help="Seconds to wait for the run with --wait.")
def trigger(name: str, url: str, sha: str | None, wait: bool, timeout: float) -> None:
    """Start intent NAME on a chatops service (the key comes from $CHATOPS_API_KEY)."""
    from chatops.cli.trigger import trigger as run_trigger

    raise SystemExit(run_trigger(name, url, sha=sha, wait=wait, timeout=timeout))


@app.command()
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
@click.option("--forge", type=click.Choice(["github", "gitea", "gitlab"]), default="github",
              show_default=True, help="Whose CI the workflows are for (gitea: Forgejo too).")
def init(folder: Path, force: bool, forge: str) -> None:
    """Create a GitOps repository in FOLDER: a stack, an intent, and the CI workflows."""
    from chatops.scaffold import scaffold

    for path in scaffold(folder, force=force, forge=forge):
        click.echo(f"  created {path}")
    click.echo(f"next: cd {folder} && chatops validate, then see README.md there")


@app.command()
@_repo_option
@_format_option
def drift(repo: Path | None, output: str) -> None:
    """Where this host differs from Git and its last good deploys (exit 1 if it does)."""
    from chatops.cli.drift import drift_command

    raise SystemExit(drift_command(repo, json_output=output == "json"))


@app.command()
@_repo_option
@_format_option
def schedules(repo: Path | None, output: str) -> None:
    """List scheduled intents with their next time (CHATOPS_TIMEZONE)."""
    from chatops.cli.commands import schedules_command

    raise SystemExit(schedules_command(repo, json_output=output == "json"))


for _group in GROUPS:
    app.add_command(_group)
