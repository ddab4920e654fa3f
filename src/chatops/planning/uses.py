"""Every repository file an intent uses: what its approval covers.

An intent runs more than its own file: its compose files, what they name (``env_file``,
``extends``, ``include``, ``configs`` and ``secrets`` files, build contexts, the ``.env``
beside them), its stack folder, and hook programs and scripts inside the repository. A
change to any of them is a change to what the intent deploys, so it deploys the intent
and needs the intent's label. Pure but for ``Tree``: the files of one commit (read from
Git objects) or of the working tree.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Protocol

import yaml

from chatops.compose_refs import file_refs
from chatops.intents.loader import INTENT_SUFFIXES, IntentFile
from chatops.repo import INTENTS_DIR, STACKS_DIR, GitOpsRepo, compose_ref

MAX_COMPOSE_BYTES = 4 * 1024 * 1024
MAX_COMPOSE_FILES = 64  # include/extends chains followed per intent


class Tree(Protocol):
    """The files of one version of the repository (paths relative to its root, '/')."""

    def read(self, path: str) -> bytes | None:
        """The file's bytes, or None when there is no such file."""

    def exists(self, path: str) -> bool:
        """True for a file or a folder."""


@dataclass
class CommitTree:
    """The repository at one commit, from Git objects (nothing moves)."""

    show: Callable[[str, str], bytes | None]  # (sha, path), as RepoSync.show
    sha: str
    paths: Iterable[str]
    _files: set[str] = field(init=False)
    _dirs: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self._files = set(self.paths)
        self._dirs = {posixpath.dirname(p) for p in self._files}
        for folder in list(self._dirs):
            parent = folder
            while parent:
                parent = posixpath.dirname(parent)
                self._dirs.add(parent)

    def read(self, path: str) -> bytes | None:
        if path not in self._files:
            return None
        return self.show(self.sha, path)

    def exists(self, path: str) -> bool:
        return path in self._files or path in self._dirs


@dataclass(frozen=True)
class WorkTree:
    """The repository as it is on disk; nothing outside its root is read (a symbolic
    link that leads out is not followed). Where each path leads is asked once; each
    folder's real place is found once, so a file costs one ``lstat``."""

    root: Path
    _found: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)
    _folders: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def _real_root(self) -> str:
        return os.path.realpath(self.root)

    def _within(self, real: str) -> bool:
        root = self._real_root
        return real == root or real.startswith(root.rstrip("/") + "/")

    def _folder(self, folder: str) -> str | None:
        """Where ``folder`` (relative to the root) really is, when that is inside."""
        if folder not in self._folders:
            real = os.path.realpath(os.path.join(self.root, folder)) if folder \
                else self._real_root
            self._folders[folder] = real if self._within(real) else None
        return self._folders[folder]

    def _inside(self, path: str) -> str | None:
        if path in self._found:
            return self._found[path]
        folder, name = posixpath.split(path)
        real_folder = self._folder(folder)
        found: str | None = None
        if real_folder is not None and name not in ("", ".", ".."):
            full = os.path.join(real_folder, name)
            try:
                mode = os.lstat(full).st_mode
            except OSError:  # nothing there: whether it would lead out does not matter
                mode = None
            if mode is not None:
                real = os.path.realpath(full) if stat.S_ISLNK(mode) else full
                found = real if self._within(real) else None
        self._found[path] = found
        return found

    def read(self, path: str) -> bytes | None:
        full = self._inside(path)
        if full is None:
            return None
        try:
            with open(full, "rb") as handle:
                return handle.read()
        except OSError:  # a folder, or gone since
            return None

    def exists(self, path: str) -> bool:
        full = self._inside(path)
        return full is not None and os.path.exists(full)


def _inside(base: str, ref: str, root: Path) -> str | None:
    """``ref`` (absolute, or relative to folder ``base``) as a path inside the
    repository, or None when it is outside it."""
    if not ref or "\x00" in ref:
        return None
    if ref.startswith("/"):  # strings, not Paths: a thousand intents are checked at once
        top = str(root).rstrip("/") + "/"
        rel = posixpath.normpath(ref) + "/"
        if not rel.startswith(top):
            return None
        rel = rel[len(top):].rstrip("/")
    else:
        rel = posixpath.normpath(posixpath.join(base, ref))
    if rel in (".", "") or rel == ".." or rel.startswith("../"):
        return None
    return rel


#: How the plan says what names a file (``compose_refs.FileRef.kind``).
_NAMED_BY = {"include": "include", "include env_file": "include env_file",
             "env_file": "env_file of service {}", "extends": "extends of service {}",
             "build": "build context of service {}", "dockerfile": "Dockerfile of {}",
             "config": "config {}", "secret": "secret {}"}


def _hook_refs(argv: Iterable[str]) -> Iterator[str]:
    """Each argument that may name a file: itself, and the value of ``--opt=value``."""
    for arg in argv:
        if not arg.startswith("-"):
            yield arg
        elif "=" in arg:
            yield arg.split("=", 1)[1]


def files_used(intent: IntentFile, repo: GitOpsRepo, tree: Tree) -> dict[str, str]:
    """Every repository path ``intent`` uses, with why: files, and folders (a stack's
    folder, a build context) whose every file counts."""
    used: dict[str, str] = {}
    # Its own suffix first: an intent is one file, so the others are asked only when
    # that one is not in the tree.
    for suffix in sorted(INTENT_SUFFIXES, key=lambda s: s != intent.path.suffix):
        own = f"{INTENTS_DIR}/{intent.name}{suffix}"
        if tree.exists(own):
            used[own] = "the intent's file"
            break
    queue: list[tuple[str, str]] = []
    for doc in intent.documents:
        used.setdefault(f"{STACKS_DIR}/{doc.stack}", f"the folder of stack {doc.stack}")
        compose = _inside("", compose_ref(doc), repo.root)
        if compose is not None:
            queue.append((compose, f"the compose file of stack {doc.stack}"))
        for hook in (*doc.hooks.pre_deploy, *doc.hooks.post_deploy, *doc.hooks.on_failure):
            for ref in _hook_refs(hook.run):
                path = _inside("", ref, repo.root)
                if path is not None and tree.exists(path):
                    used.setdefault(path, f"a hook of stack {doc.stack} runs or reads it")
    seen: set[str] = set()
    while queue and len(seen) < MAX_COMPOSE_FILES:
        path, why = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        used.setdefault(path, why)
        folder = posixpath.dirname(path)
        env = posixpath.join(folder, ".env") if folder else ".env"
        if tree.exists(env):
            used.setdefault(env, f"the .env beside {path}")
        raw = tree.read(path)
        if raw is None or len(raw) > MAX_COMPOSE_BYTES:
            continue
        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError:
            continue  # Compose refuses it at run time; the file itself is already listed
        for named in file_refs(data):
            target = _inside(folder, named.path, repo.root)
            if target is None:
                continue
            label = f"{_NAMED_BY[named.kind].format(named.owner)} in {path}"
            if named.kind in ("include", "extends"):
                queue.append((target, label))
            else:
                used.setdefault(target, label)
    return dict(sorted(used.items()))


def touches(changed: str, used: Iterable[str]) -> bool:
    """True when the changed file is one of ``used`` or inside one of its folders."""
    return any(changed == u or changed.startswith(u + "/") for u in used)
