"""Which intents a change affects: those that use a changed file (``uses.files_used``)."""

from __future__ import annotations

from collections.abc import Iterable

from chatops.intents.graph import topological_order
from chatops.intents.loader import IntentFile
from chatops.planning.uses import Tree, files_used, touches
from chatops.repo import GitOpsRepo


def affected_by(changed: Iterable[str], intents: Iterable[IntentFile], repo: GitOpsRepo,
                tree: Tree) -> dict[str, list[str]]:
    """Each affected intent's name, with the changed files that affect it."""
    files = list(changed)
    hit: dict[str, list[str]] = {}
    for intent in intents:
        used = files_used(intent, repo, tree)
        mine = [f for f in files if touches(f, used)]
        if mine:
            hit[intent.name] = mine
    return hit


def affected_intents(changed: Iterable[str], intents: Iterable[IntentFile],
                     repo: GitOpsRepo, tree: Tree) -> list[str]:
    """Intents that use a changed file, dependencies first."""
    by_name = {i.name: i for i in intents}
    hit = affected_by(changed, by_name.values(), repo, tree)
    deps = {name: [d for d in by_name[name].depends_on if d in hit] for name in hit}
    return topological_order(deps)
