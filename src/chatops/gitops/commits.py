"""One commit of the GitOps repository, read once: the one way every path that deploys
a commit (``POST /run``, the push webhook, chat, the scheduler, the dashboard) reads it.

A ``CommitView`` is made from Git objects (nothing in the checkout moves): the list of
files at the commit (one ``git ls-tree``), every intent file's bytes (one ``git cat-file
--batch``), each intent parsed once. A commit never changes, so a view is kept and
shared by every run, plan and push of that commit. ``image_changes_between`` reads an
intent's compose files at two commits for the image changes from one to the other (what
an approval request and the plan comment show).
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping

from msgspec import Struct, field

from chatops.errors import IntentError, IntentNotFoundError
from chatops.gitops.git import ZERO_SHA
from chatops.gitops.sync import RepoSync
from chatops.intents.fields import NAME_RE
from chatops.intents.loader import IntentFile, parse_intent
from chatops.planning.images import ImageChange, image_changes
from chatops.planning.uses import CommitTree
from chatops.repo import GitOpsRepo

INTENTS = "chatops/intents"


class CommitView(Struct, frozen=True):
    sha: str
    files: tuple[str, ...]
    intents: Mapping[str, IntentFile] = field(default_factory=dict)
    invalid: Mapping[str, IntentError] = field(default_factory=dict)
    tree: CommitTree | None = None

    def intent(self, name: str) -> IntentFile:
        """Intent ``name`` at this commit; not found or invalid, said with the commit."""
        found = self.intents.get(name)
        if found is not None:
            return found
        error = self.invalid.get(name)
        if error is not None:
            raise IntentError(error.problems, intent=name, message=f"intent {name!r} is "
                              f"invalid at commit {self.sha[:12]}: {error.message}")
        raise IntentNotFoundError(name, f"no intent named {name!r} at commit "
                                  f"{self.sha[:12]}")


def read_commit(sync: RepoSync, sha: str) -> CommitView:
    """The view of full commit ``sha`` (blocking: two Git processes)."""
    files = tuple(sync.all_files_at(sha))
    names: dict[str, str] = {}
    for path in files:
        folder, base = posixpath.split(path)
        stem, ext = posixpath.splitext(base)
        if folder == INTENTS and ext in (".yaml", ".yml") and NAME_RE.match(stem) \
                and stem not in names:
            names[stem] = path
    raw = sync.git.blobs(sha, list(names.values()))
    intents: dict[str, IntentFile] = {}
    invalid: dict[str, IntentError] = {}
    for name, path in sorted(names.items()):
        try:
            intents[name] = parse_intent(raw.get(path) or b"", label=posixpath.basename(path),
                                         name=name)
        except IntentError as exc:
            invalid[name] = exc
    return CommitView(sha, files, intents, invalid, CommitTree(sync.show, sha, files))


def image_changes_between(sync: RepoSync, repo: GitOpsRepo, intent: IntentFile,
                          old: str | None, new: str) -> tuple[ImageChange, ...]:
    """The image changes of ``intent``'s compose files from commit ``old`` to ``new``."""
    found: list[ImageChange] = []
    for doc in intent.documents:
        path = repo.compose_path(doc)
        if not path.is_relative_to(repo.root):
            continue  # outside the repository: Git does not know its history
        rel = path.relative_to(repo.root).as_posix()
        before = sync.show(old, rel) if old and old != ZERO_SHA else None
        found += image_changes(before, sync.show(new, rel), doc.service)
    return tuple(found)
