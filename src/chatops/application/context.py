"""What every decision reads: the service's approval rules (``Rules``) and the
``Context`` (the run history and settings, the repository, the forge, the run queue),
with the commits and intents it has read, kept."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from pathlib import Path

from msgspec import Struct, field

from chatops.application.queue import RunManager
from chatops.approvers import ANY, DEFAULT_LABEL_BY
from chatops.errors import IntentError, InvalidIntentNameError
from chatops.gitops.commits import CommitView, read_commit
from chatops.gitops.forges import Forge
from chatops.gitops.sync import RepoSync
from chatops.intents.loader import IntentFile
from chatops.intents.model import name_problem
from chatops.planning import PlanContext, build_plan
from chatops.planning.steps import Plan
from chatops.planning.uses import WorkTree
from chatops.repo import GitOpsRepo
from chatops.runtime import Runtime
from chatops.settings import Settings

#: Commits whose views are kept (a view is a few kilobytes an intent).
VIEWS_KEPT = 16


class Rules(Struct, frozen=True):
    """The service's approval rules, from its settings."""

    labels: frozenset[str] = frozenset()  # approved labels, when no forge decides
    commit_required: bool = False  # runs must name a merged commit
    sync: bool = True  # runs without a commit move a Git checkout to the branch head
    wait_timeout: float = 3600.0
    #: Who may add a label, where an intent does not say; None: anyone (no history read).
    label_by: tuple[str, ...] | None = DEFAULT_LABEL_BY

    @classmethod
    def of(cls, settings: Settings, *, sync: bool) -> Rules:
        return cls(labels=settings.labels, commit_required=settings.commit_required,
                   sync=sync, wait_timeout=settings.wait_timeout,
                   label_by=None if settings.label_by == ANY
                   else tuple(settings.label_by.split(",")))


class Context(Struct):
    """What the decisions read: the run history and settings, the repository, the forge."""

    runtime: Runtime
    repo: GitOpsRepo
    rules: Rules
    queue: RunManager
    forge: Forge | None = None
    checkout_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _intents: dict[Path, tuple[tuple[int, int], IntentFile]] = field(default_factory=dict)
    _views: OrderedDict[str, CommitView] = field(default_factory=OrderedDict)
    #: Labels shown to be added by someone allowed to, by pull request, head, label
    #: and rules (read once).
    _labelled: OrderedDict[tuple[object, ...], None] = field(
        default_factory=OrderedDict)
    #: (forge user, label_by rule) the forge confirmed, until when (monotonic).
    _granted: dict[tuple[str, str], float] = field(default_factory=dict)

    def view(self, full: str) -> CommitView:
        """Commit ``full`` read once and kept (blocking: Git; hold ``checkout_lock``)."""
        found = self._views.get(full)
        if found is None:
            found = self._views[full] = read_commit(self.sync(), full)
            while len(self._views) > VIEWS_KEPT:
                self._views.popitem(last=False)
        self._views.move_to_end(full)
        return found

    def sync(self) -> RepoSync:
        base = self.runtime.settings
        return RepoSync(self.repo.root, base.git_remote, base.deploy_branch)

    def through_git(self, sha: str | None) -> bool:
        """Whether a run goes through Git: it names a commit, or syncs to the branch."""
        return sha is not None or (self.rules.sync and (self.repo.root / ".git").exists())

    def load(self, name: str) -> IntentFile:
        """Intent ``name`` from the checkout, parsed again only when its file changed."""
        checked_name(name)
        path = self.repo.intent_path(name)
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        hit = self._intents.get(path)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        try:
            intent = self.repo.load_intent(name)
        except IntentError as exc:
            raise IntentError(exc.problems, intent=name, message=f"intent {name!r} is "
                              f"invalid: {exc.message}") from None
        if len(self._intents) > 1000:
            self._intents.clear()
        self._intents[path] = (stamp, intent)
        return intent

    def plan(self, intent: IntentFile, *, rollback: bool = True,
             host: str | None = None, uses: bool = False) -> Plan:
        """The intent's plan (on ``host``, for one host of a rolling deploy); with
        ``uses``, listing the repository files it uses (for people: it reads them)."""
        base = self.runtime.settings
        return build_plan(intent, PlanContext(repo=self.repo,
                                              compose_command=base.compose_command,
                                              rollback=rollback,
                                              stable_for=base.stability_window,
                                              hosts=base.hosts, host=host,
                                              state_dir=base.state_dir,
                                              tree=WorkTree(self.repo.root) if uses else None))


def checked_name(name: object, field: str = "name") -> str:
    """An intent name from outside, checked before any file-system call."""
    problem = name_problem(name)
    if problem is not None:
        raise InvalidIntentNameError(problem, field=field)
    assert isinstance(name, str)  # noqa: S101 - name_problem accepted it
    return name
