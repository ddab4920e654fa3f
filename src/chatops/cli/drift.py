"""``chatops drift``: where this host differs from Git and its last good deploys, read
here (the engine, the run history, the checkout); exit 1 when it does. ``chatops
doctor``: whether this host is ready to deploy; exit 1 when it is not."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from chatops.cli.config import current_settings
from chatops.repo import GitOpsRepo


def drift_command(repo_path: Path | None, *, json_output: bool) -> int:
    from chatops.application.drift import Drift, drift_report
    from chatops.clock import SystemClock
    from chatops.gitops.sync import RepoSync
    from chatops.locks import Locks
    from chatops.masking import Masker
    from chatops.runtime import Runtime
    from chatops.store.sqlite import RunStore

    settings = current_settings()
    repo = GitOpsRepo.discover(repo_path)
    store = RunStore(settings.paths.db)
    runtime = Runtime(settings, store, Locks(settings.paths.locks), SystemClock(), Masker())
    engine = runtime.engine()

    async def read() -> list[Drift]:
        try:
            return await drift_report(repo, store, engine, RepoSync(
                repo.root, settings.git_remote, settings.deploy_branch))
        finally:
            await engine.close()

    try:
        found = asyncio.run(read())
    finally:
        store.close()
    if json_output:
        sys.stdout.write(json.dumps({"clean": not found,
                                     "drift": [d.as_dict() for d in found]}, indent=2) + "\n")
    elif not found:
        sys.stdout.write("✅ no drift: every stack runs what its last good deploy left, and "
                         "the checkout is the deploy branch's\n")
    else:
        sys.stdout.write(f"Drift: {len(found)} finding(s)\n")
        for d in found:
            where = d.stack or "repository"
            sys.stdout.write(f"  ✗ {where}: {d.kind}: {d.message}\n")
    return 1 if found else 0


def doctor_command(*, json_output: bool) -> int:
    """Every check of ``application.doctor``, one line each; 1 when one fails."""
    from chatops.application.doctor import examine

    found = asyncio.run(examine(current_settings()))
    if json_output:
        sys.stdout.write(json.dumps([{"check": f.check, "ok": f.ok, "message": f.message}
                                     for f in found], indent=2) + "\n")
    else:
        sys.stdout.write("".join(f.line() + "\n" for f in found))
        bad = sum(f.ok is False for f in found)
        sys.stdout.write(f"{bad} problem(s) to fix\n" if bad else "this host is ready\n")
    return 1 if any(f.ok is False for f in found) else 0
