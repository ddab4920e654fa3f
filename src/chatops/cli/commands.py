"""What each command does, kept apart from argument parsing."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatops.cli.config import current_settings
from chatops.intents.loader import IntentFile
from chatops.repo import GitOpsRepo

if TYPE_CHECKING:
    from chatops.validation.validator import ComposeChecker


def validate_command(
    paths: list[Path], repo: Path | None, *, json_output: bool, check_compose: bool
) -> int:
    from chatops.validation.report import render_json, render_text
    from chatops.validation.validator import validate_paths

    # Files or folders given: check those; otherwise the repository's intents folder.
    gitops = GitOpsRepo.discover(repo) if repo is not None or not paths else None
    targets = paths if paths else [gitops.intents_dir] if gitops else []
    checker: ComposeChecker | None = None
    if check_compose:
        from functools import partial

        from chatops.validation.compose_check import check_compose_files

        checker = partial(check_compose_files, current_settings().compose_command)
    root = gitops.root if gitops else Path.cwd()
    hosts = None
    if "CHATOPS_HOSTS" in os.environ or "CHATOPS_CONFIG" in os.environ:

        hosts = set(current_settings().hosts)  # names are checked only where they are set
    report = validate_paths(targets, repo_root=root, compose_checker=checker, hosts=hosts)
    sys.stdout.write(render_json(report) if json_output else render_text(report))
    return 0 if report.ok else 1


def load_or_explain(gitops: GitOpsRepo, name: str, what: str,
                    read: Callable[[], IntentFile] | None = None) -> IntentFile | None:
    """The intent (from ``read`` when given), or ``None`` after printing every problem
    with it to stderr."""
    from chatops.errors import IntentError

    try:
        return read() if read is not None else gitops.load_intent(name)
    except IntentError as exc:
        sys.stderr.write(f"error: intent {name!r} is invalid; nothing was {what}:\n")
        for problem in exc.problems:
            sys.stderr.write(f"  ✗ {problem.render()}\n")
        return None


def plan_command(name: str, repo: Path | None, *, json_output: bool, rollback: bool) -> int:
    from chatops.errors import ChatopsError
    from chatops.planning import PlanContext, build_plan
    from chatops.planning.render import plan_to_dict, render_text
    from chatops.planning.uses import WorkTree

    settings = current_settings()
    gitops = GitOpsRepo.discover(repo)
    intent = load_or_explain(gitops, name, "planned")
    if intent is None:
        return 4
    try:
        plan = build_plan(intent, PlanContext(
            repo=gitops, compose_command=settings.compose_command, rollback=rollback,
            hosts=settings.hosts, state_dir=settings.state_dir, tree=WorkTree(gitops.root)))
    except ChatopsError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 4
    if json_output:
        sys.stdout.write(json.dumps(plan_to_dict(plan), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(plan))
    return 0


def plan_pr_command(number: int, repo: Path | None, *, base: str | None, head: str,
                    comment: bool) -> int:
    """``chatops plan --pr N``: the pull request's plan comment, posted or updated."""
    import asyncio

    from chatops.application.review import plan_pull_request, publish
    from chatops.errors import ChatopsError
    from chatops.gitops.forges import forge_of
    from chatops.gitops.sync import REV_RE, RepoSync
    from chatops.planning import PlanContext, build_plan

    settings = current_settings()
    gitops = GitOpsRepo.discover(repo)
    sync = RepoSync(gitops.root, settings.git_remote, settings.deploy_branch)
    base = base or f"{settings.git_remote}/{settings.deploy_branch}"
    try:
        forge = forge_of(settings) if comment else None
    except ChatopsError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 4
    if comment and forge is None:
        sys.stderr.write("error: --pr posts to the forge: set CHATOPS_FORGE_REPO (OWNER/NAME) "
                         "and CHATOPS_FORGE_TOKEN (in a GitHub workflow: "
                         "${{ github.repository }} and ${{ secrets.GITHUB_TOKEN }}; "
                         "CHATOPS_FORGE=gitea or gitlab, and CHATOPS_FORGE_URL, for the "
                         "others), or pass --no-comment\n")
        return 4
    try:
        shas = []
        for flag, rev in (("--base", base), ("--head", head)):
            if not REV_RE.match(rev):
                sys.stderr.write(f"error: {flag}: {rev!r} is not a commit or branch\n")
                return 2
            done = sync.git.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}",
                                check=False)
            if done.returncode != 0:
                sys.stderr.write(f"error: {flag}: no commit {rev!r} in {gitops.root} (fetch "
                                 "it: actions/checkout with fetch-depth: 0)\n")
                return 2
            shas.append(done.stdout.strip())

        def planner(intent: Any) -> Any:
            return build_plan(intent, PlanContext(
                repo=gitops, compose_command=settings.compose_command,
                stable_for=settings.stability_window, hosts=settings.hosts,
                state_dir=settings.state_dir))

        plan = plan_pull_request(sync, gitops, planner, number=number, base=shas[0],
                                 head=shas[1])
        if forge is None:
            sys.stdout.write(plan.comment() + "\n")
            return 0
        published = asyncio.run(publish(forge, plan))
    except ChatopsError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 4
    sys.stdout.write(published.text(plan) + "\n")
    return 0


def schema_command() -> int:
    from chatops.intents.schema import intent_json_schema

    sys.stdout.write(json.dumps(intent_json_schema(), indent=2) + "\n")
    return 0


def affected_command(base: str, head: str, repo: Path | None, *, json_output: bool) -> int:
    from chatops.errors import IntentError
    from chatops.gitops.affected import affected_intents
    from chatops.gitops.sync import RepoSync

    gitops = GitOpsRepo.discover(repo)
    sync = RepoSync(gitops.root)
    changed = sync.changed_files(base, head)
    intents = []
    for path in gitops.intent_files():
        try:
            intents.append(gitops.load_intent(path.stem))
        except IntentError as exc:
            sys.stderr.write(f"warning: {exc.message}\n")
    names = affected_intents(changed, intents, gitops, sync.tree(head))
    if json_output:
        sys.stdout.write(json.dumps({"base": base, "head": head, "changed": changed,
                                     "intents": names}, indent=2) + "\n")
    else:
        sys.stdout.write("".join(f"{n}\n" for n in names))
    return 0


def schedules_command(repo: Path | None, *, json_output: bool) -> int:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from croniter import croniter

    from chatops.errors import IntentError

    settings = current_settings()
    gitops = GitOpsRepo.discover(repo)
    tz = ZoneInfo(settings.timezone)
    now = datetime.now(tz)
    rows = []
    for path in gitops.intent_files():
        try:
            intent = gitops.load_intent(path.stem)
        except IntentError:
            continue
        if intent.schedule:
            nxt = croniter(intent.schedule, now).get_next(datetime)
            rows.append({"intent": intent.name, "cron": intent.schedule,
                         "next": nxt.isoformat()})
    if json_output:
        sys.stdout.write(json.dumps({"timezone": settings.timezone, "schedules": rows},
                                    indent=2) + "\n")
        return 0
    if not rows:
        sys.stdout.write("no intent has a schedule\n")
    for row in rows:
        sys.stdout.write(f"{row['intent']:<32} {row['cron']:<16} next {row['next']} "
                         f"({settings.timezone})\n")
    return 0
