from __future__ import annotations

import pytest

from chatops.intents.graph import find_cycles, missing_dependencies, topological_order


def test_no_cycles_in_a_chain() -> None:
    assert find_cycles({"a": ["b"], "b": ["c"], "c": []}) == []


def test_self_dependency_is_a_cycle() -> None:
    assert find_cycles({"a": ["a"]}) == [["a", "a"]]


def test_each_cycle_is_reported_once() -> None:
    cycles = find_cycles({"a": ["b"], "b": ["a"], "c": ["d"], "d": ["c"], "e": ["a"]})
    assert sorted(map(tuple, cycles)) == [("a", "b", "a"), ("c", "d", "c")]


def test_missing_dependencies() -> None:
    assert missing_dependencies({"a": ["b", "x"]}, {"a", "b"}) == [("a", "x")]


def test_topological_order_puts_dependencies_first() -> None:
    order = topological_order({"app": ["db", "cache"], "db": [], "cache": ["db"]})
    assert order == ["db", "cache", "app"]


def test_topological_order_refuses_cycles() -> None:
    with pytest.raises(ValueError, match="cycle"):
        topological_order({"a": ["b"], "b": ["a"]})
