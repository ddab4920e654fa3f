"""The GitOps repository on disk: where intents and stacks live, and safe lookups in it."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from msgspec import Struct

from chatops.errors import IntentNotFoundError, RepoError
from chatops.intents.loader import INTENT_SUFFIXES, IntentFile, load_intent_file
from chatops.intents.model import NAME_MAX, IntentDoc, name_problem
from chatops.paths import configured

INTENTS_DIR = PurePosixPath("chatops/intents")
STACKS_DIR = PurePosixPath("stacks")
COMPOSE_FILE = "docker-compose.yml"


class GitOpsRepo(Struct, frozen=True):
    """A checkout holding ``chatops/intents/*.yaml`` and ``stacks/<stack>/docker-compose.yml``."""

    root: Path

    @classmethod
    def discover(cls, repo: str | os.PathLike[str] | None = None) -> GitOpsRepo:
        """``--repo``, else ``CHATOPS_REPO`` (or ``repo`` in ``CHATOPS_CONFIG``), else the
        current directory."""
        chosen = repo if repo not in (None, "") else configured("repo") or "."
        root = Path(chosen).expanduser()
        if not root.is_dir():
            raise RepoError(f"GitOps repository {str(root)!r} is not a directory "
                            "(set --repo or CHATOPS_REPO)")
        return cls(root.resolve())

    @property
    def intents_dir(self) -> Path:
        return self.root / INTENTS_DIR

    @property
    def stacks_dir(self) -> Path:
        return self.root / STACKS_DIR

    def intent_files(self) -> list[Path]:
        self._has_intents()
        return intent_files_in(self.intents_dir)

    def intent_stamps(self) -> tuple[tuple[str, int, int], ...]:
        """(name, modification time, size) of each intent file, sorted by name."""
        self._has_intents()
        return intent_stamps_in(self.intents_dir)

    def _has_intents(self) -> None:
        if not self.intents_dir.is_dir():
            raise RepoError(
                f"no intents folder at {self.intents_dir} (expected chatops/intents/ in the "
                "GitOps repository; set --repo or CHATOPS_REPO)"
            )

    def intent_path(self, name: str) -> Path:
        """The file of intent ``name``; never a path outside the intents folder."""
        problem = name_problem(name)
        if problem is not None:
            raise IntentNotFoundError(str(name)[:NAME_MAX], f"invalid intent name: {problem}")
        base = self.intents_dir.resolve()
        found = [base / f"{name}{suffix}" for suffix in INTENT_SUFFIXES]
        found = [p for p in found if p.is_file()]
        if not found:
            raise IntentNotFoundError(name, f"no intent named {name!r} in {INTENTS_DIR}/")
        if len(found) > 1:
            raise IntentNotFoundError(
                name, f"intent {name!r} is defined twice: {found[0].name} and {found[1].name}"
            )
        real = found[0].resolve()
        if not real.is_relative_to(base):
            raise IntentNotFoundError(
                name, f"intent {name!r} is a link to a file outside {INTENTS_DIR}/; refused"
            )
        return real

    def load_intent(self, name: str) -> IntentFile:
        path = self.intent_path(name)
        return load_intent_file(path, label=path.name)

    def compose_path(self, doc: IntentDoc) -> Path:
        """The compose file a document acts on (pure path arithmetic, no I/O)."""
        path = Path(compose_ref(doc))
        return path if path.is_absolute() else self.root / path


def compose_ref(doc: IntentDoc) -> str:
    """The compose file a document acts on, as written: absolute, or relative to the
    repository (``stacks/STACK/docker-compose.yml`` when it names none)."""
    return doc.compose or f"{STACKS_DIR}/{doc.stack}/{COMPOSE_FILE}"


def _is_intent(entry: os.DirEntry[str]) -> bool:
    # scandir reads the file type from the directory entry: no stat per file.
    return entry.name.endswith(INTENT_SUFFIXES) and not entry.name.startswith(".") \
        and entry.is_file()


def intent_files_in(folder: Path) -> list[Path]:
    """The intent files directly in ``folder``, sorted by name."""
    with os.scandir(folder) as entries:
        names = sorted(e.name for e in entries if _is_intent(e))
    return [folder / name for name in names]


def intent_stamps_in(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Each intent file's name, modification time and size, sorted by name: whether any
    changed (one directory read, one stat a file)."""
    with os.scandir(folder) as entries:
        return tuple(sorted((e.name, st.st_mtime_ns, st.st_size) for e in entries
                            if _is_intent(e) for st in (e.stat(),)))
