"""Checks across intents: every ``depends_on`` exists, and no dependency cycles."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def missing_dependencies(
    deps: Mapping[str, Iterable[str]], known: set[str]
) -> list[tuple[str, str]]:
    """``(intent, missing dependency)`` pairs, in input order."""
    return [(name, dep) for name, ds in deps.items() for dep in ds if dep not in known]


def find_cycles(deps: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Each dependency cycle once, as a path that ends where it starts: ``[a, b, a]``."""
    graph = {name: [d for d in ds if d in deps] for name, ds in deps.items()}
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for start in sorted(graph):
        if colour[start] != white:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = [start]
        colour[start] = grey
        while stack:
            node, i = stack[-1]
            children = graph[node]
            if i >= len(children):
                stack.pop()
                path.pop()
                colour[node] = black
                continue
            stack[-1] = (node, i + 1)
            child = children[i]
            if colour[child] == grey:
                cycle = [*path[path.index(child):], child]
                key = frozenset(cycle)
                if key not in seen:
                    seen.add(key)
                    cycles.append(cycle)
            elif colour[child] == white:
                colour[child] = grey
                stack.append((child, 0))
                path.append(child)
    return cycles


def topological_order(deps: Mapping[str, Iterable[str]]) -> list[str]:
    """Names with each after its dependencies; ties broken by name. Assumes no cycles."""
    remaining = {name: {d for d in ds if d in deps} for name, ds in deps.items()}
    order: list[str] = []
    while remaining:
        ready = sorted(n for n, ds in remaining.items() if not ds)
        if not ready:
            raise ValueError("dependency cycle among: " + ", ".join(sorted(remaining)))
        for name in ready:
            order.append(name)
            del remaining[name]
        for ds in remaining.values():
            ds.difference_update(ready)
    return order
