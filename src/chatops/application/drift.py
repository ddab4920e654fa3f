"""Drift: where the host no longer matches what Git and the last good deploy say, in
one pass over every stack (``chatops drift``, ``GET /drift``, the ``chatops_drift``
gauge). Reading only: nothing here changes anything.

Per stack, against the snapshot its last succeeded run left (``after``):

- ``image``: a service runs another image than that deploy left (recreated by hand), or
  the tag it deployed now points elsewhere in its registry (re-pushed);
- ``replicas``: fewer or more running containers than it left (``missing`` when none);
- ``orphan``: containers of the project for a service neither the deploy nor the compose
  file has;
- ``file``: the compose file, any file of the stack's folder, or a secret file the deploy
  used, changed, gone or new on the host since (their hashes);
- ``run``: the stack's last run did not succeed, or rolled it back.

``undeployed``: each commit on the fetched deploy branch that the checkout has not
reached and that affects the stack's intents, with why (its run's state, or none).

For the repository: ``checkout`` (local edits; a checkout not on the deploy branch) and
``fetch`` (pull mode's fetch failing, and since when).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from pathlib import Path
from typing import Any

from msgspec import Struct

from chatops.application.overview import StackView, stack_views
from chatops.application.polling import FetchHealth
from chatops.durations import format_duration
from chatops.engine.base import Engine
from chatops.engine.hosts import on_host
from chatops.errors import ChatopsError
from chatops.gitops.affected import affected_intents
from chatops.gitops.commits import read_commit
from chatops.gitops.sync import RepoSync
from chatops.repo import GitOpsRepo
from chatops.runner.snapshot import folder_hashes
from chatops.store.sqlite import RunStore

REGISTRY_TIMEOUT = 5.0
MAX_UNDEPLOYED = 40
KINDS = ("image", "replicas", "missing", "orphan", "file", "run", "checkout", "undeployed",
         "fetch", "unknown")


class Drift(Struct, frozen=True):
    kind: str
    message: str
    stack: str | None = None  # None: the repository's, not one stack's

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "stack": self.stack, "message": self.message}


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def stack_drift(view: StackView, store: RunStore) -> list[Drift]:
    """What differs on one stack from its last good deploy."""
    found: list[Drift] = []

    def add(kind: str, message: str) -> None:
        found.append(Drift(kind, message, view.stack))

    if view.engine_problem:
        add("unknown", f"cannot be read: {view.engine_problem}")
        return found
    last = view.last_run
    if last is not None and str(last.status) in ("failed", "rolled_back", "rollback_failed"):
        revert = next((line["line"].removeprefix("opened ").split(":", 1)[0]
                       for line in store.lines(last.id, limit=5000)
                       if line["line"].startswith("opened revert pull request #")), None)
        add("run", f"its last run ({last.intent}, {last.id}) ended {last.status}"
            + (f"; {revert} is open to revert its commit" if revert else ""))
    good = store.good_snapshots(view.stack)
    if not good:
        return found
    run_id, snapshot = good[0]
    if view.swarm or snapshot.get("strategy") in ("blue-green", "canary"):
        return found  # slots and Swarm tasks are read by their own views
    services: dict[str, Any] = snapshot.get("services") or {}
    for service, entry in sorted(services.items()):
        running = [c for c in view.containers if c.service == service and c.state == "running"]
        left = int(entry.get("replicas") or 0)
        if not running and left:
            add("missing", f"{service} has no running container; run {run_id} left {left}")
            continue
        if len(running) != left:
            add("replicas", f"{service} has {len(running)} running container(s); run "
                f"{run_id} left {left}")
        deployed = entry.get("image_id")
        ids = Counter(c.image_id for c in running if c.image_id)
        for image_id, count in sorted(ids.items()):
            if deployed and image_id != deployed:
                add("image", f"{service} runs image {image_id[:19]} in {count} "
                    f"container(s); run {run_id} left {str(deployed)[:19]}")
    wanted = set(services) | set(view.wanted)
    for c in view.containers:
        if c.service not in wanted:
            add("orphan", f"{c.name} (service {c.service}) is in project {view.project} "
                "but in neither the compose file nor the last deploy")
    compose = Path(str(snapshot.get("compose_file") or view.compose))
    recorded = snapshot.get("compose_sha256")
    if recorded and _sha256(compose) not in (recorded, None):
        add("file", f"{compose} differs from the one run {run_id} deployed (edited on "
            "the host, or a commit not deployed)")
    folder = Path(str(snapshot.get("folder") or ""))
    seen = folder_hashes(folder) if snapshot.get("folder") else {}
    secret = {Path(str(e.get("source") or "")) for e in
              (snapshot.get("secrets") or {}).values()}
    for name, recorded_hash in sorted((snapshot.get("files") or {}).items()):
        path = folder / name
        if path == compose or path in secret:
            continue  # told above, or below
        if name not in seen:
            add("file", f"{path} is gone since run {run_id}")
        elif seen[name] != recorded_hash:
            add("file", f"{path} differs from the one run {run_id} deployed (edited on the "
                "host, or a commit not deployed)")
    for name in sorted(set(seen) - set(snapshot.get("files") or {})):
        if snapshot.get("files") is not None and folder / name not in secret:
            add("file", f"{folder / name} is new since run {run_id}")
    for name, entry in sorted((snapshot.get("secrets") or {}).items()):
        source = Path(str(entry.get("source") or ""))
        if entry.get("sha256") and _sha256(source) not in (entry["sha256"], None):
            add("file", f"{name} (a secret file) differs from the one run {run_id} "
                "deployed")
    return found


async def registry_drift(view: StackView, store: RunStore, engine: Engine) -> list[Drift]:
    """A tag the last deploy used that now points elsewhere in its registry (re-pushed):
    the host runs what it pulled then. A registry that does not answer is ``unknown``."""
    good = store.good_snapshots(view.stack)
    if not good or view.engine_problem or view.swarm:
        return []
    run_id, snapshot = good[0]
    found: list[Drift] = []
    for service, entry in sorted((snapshot.get("services") or {}).items()):
        ref = str(entry.get("image_ref") or "")
        if not ref or "@" in ref:
            continue  # pinned by digest: it cannot move
        deployed = str(entry.get("digest") or "")
        if "@" not in deployed:
            continue  # built here, never pushed: no registry to compare with
        try:
            with on_host(view.host):
                remote = await asyncio.wait_for(engine.registry_digest(ref), REGISTRY_TIMEOUT)
        except (ChatopsError, TimeoutError) as exc:
            found.append(Drift("unknown", f"{service}: the registry of {ref} did not answer "
                               f"({exc}); its digest is not checked", view.stack))
            continue
        here = deployed.split("@", 1)[1]
        if remote and here and remote != here:
            found.append(Drift("image", f"{service}: {ref} now points to {remote[:19]} in "
                               f"its registry; run {run_id} deployed {here[:19]}", view.stack))
    return found


def repository_drift(sync: RepoSync, store: RunStore, repo: GitOpsRepo) -> list[Drift]:
    """The checkout against the deploy branch, and each commit the branch has that the
    checkout has not reached, for each stack whose intents it affects (blocking: Git)."""
    found: list[Drift] = []
    try:
        sync.ensure_clean()
    except ChatopsError as exc:
        found.append(Drift("checkout", exc.message))
    try:
        head = sync.head()
        tracking = sync.git.out("rev-parse", "--verify", "--quiet", sync.tracking)
    except ChatopsError as exc:
        return [*found, Drift("unknown", f"the checkout cannot be read: {exc.message}")]
    if not tracking:
        return found
    if head != tracking and not sync.is_ancestor(head, tracking):
        found.append(Drift("checkout", f"the checkout's commit {head[:12]} is not on "
                           f"{sync.remote}/{sync.branch}"))
        return found
    pending = sync.git.out("rev-list", "--reverse", f"{head}..{tracking}").split()
    view = read_commit(sync, tracking)
    assert view.tree is not None  # noqa: S101 - read_commit gives its tree
    stacks_of = {name: sorted({d.stack for d in i.documents})
                 for name, i in view.intents.items()}
    runs = store.list_runs(limit=500)
    told = 0
    for sha in pending:
        changed = sync.changed_files(sync.git.out("rev-parse", f"{sha}^"), sha)
        names = affected_intents(changed, view.intents.values(), repo, view.tree)
        if not names:
            continue  # it changes nothing an intent uses: nothing to deploy
        subject = sync.git.out("log", "-1", "--format=%s", sha)
        noted = store.commit_outcomes(sha)
        for name in names:
            ran = [r for r in runs if r.sha == sha and r.intent == name]
            if not ran and name in noted:
                why = f"{noted[name][0]}: {noted[name][1]}"
            elif not ran:
                why = ("no push or poll has brought it yet (a lost webhook? pull mode "
                       "off?)")
            elif str(ran[0].status) in ("queued", "running", "awaiting_approval"):
                why = f"its run {ran[0].id} is {str(ran[0].status).replace('_', ' ')}"
            else:
                why = f"its run {ran[0].id} ended {ran[0].status}"
            for stack in stacks_of.get(name, []):
                if told < MAX_UNDEPLOYED:
                    found.append(Drift("undeployed", f"{sha[:12]} {subject[:80]!r} for "
                                       f"{name}: {why}", stack))
                told += 1
    if told > MAX_UNDEPLOYED:
        found.append(Drift("undeployed", f"and {told - MAX_UNDEPLOYED} more"))
    return found


def fetch_drift(failures: int, failing_since: float | None, error: str,
                now: float) -> list[Drift]:
    if not failures or failing_since is None:
        return []
    lasted = format_duration(float(int(now - failing_since)))
    return [Drift("fetch", f"fetch failing for {lasted} ({failures} in a row): {error}")]


async def drift_report(repo: GitOpsRepo, store: RunStore, engine: Engine, sync: RepoSync,
                       fetches: FetchHealth | None = None) -> list[Drift]:
    """Every drift of every stack the repository's valid intents name, then the
    repository's own (blocking Git runs in a thread)."""
    intents = []
    for path in repo.intent_files():
        try:
            intents.append(repo.load_intent(path.stem))
        except ChatopsError:
            continue  # an invalid intent is validate's to tell
    views = await stack_views(repo, intents, store, engine)
    found = [d for view in views for d in stack_drift(view, store)]
    for more in await asyncio.gather(*(registry_drift(v, store, engine) for v in views)):
        found += more
    if (repo.root / ".git").exists():
        found += await asyncio.to_thread(repository_drift, sync, store, repo)
    if fetches is not None:
        found += fetch_drift(fetches.failures, fetches.failing_since, fetches.error,
                             time.time())
    return found
