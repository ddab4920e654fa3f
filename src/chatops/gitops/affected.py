"""Which intents a change affects. Pure: file names and intents in, names out."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from chatops.intents.graph import topological_order
from chatops.intents.loader import IntentFile
from chatops.repo import INTENTS_DIR, STACKS_DIR, GitOpsRepo


def affected_intents(changed: Iterable[str], intents: Iterable[IntentFile],
                     repo: GitOpsRepo) -> list[str]:
    """Intents whose file, stack folder or compose file changed, dependencies first."""
    files = [PurePosixPath(f) for f in changed]
    hit: dict[str, IntentFile] = {}
    for intent in intents:
        own = {INTENTS_DIR / f"{intent.name}{suffix}" for suffix in (".yaml", ".yml")}
        watched: list[PurePosixPath] = []
        for doc in intent.documents:
            watched.append(STACKS_DIR / doc.stack)
            compose = repo.compose_path(doc)
            # An absolute path outside the repository is not tracked by this Git.
            with contextlib.suppress(ValueError):
                watched.append(PurePosixPath(Path(compose).relative_to(repo.root).as_posix()))
        for f in files:
            if f in own or any(f == w or w in f.parents for w in watched):
                hit[intent.name] = intent
                break
    deps = {name: [d for d in i.depends_on if d in hit] for name, i in hit.items()}
    return topological_order(deps)
