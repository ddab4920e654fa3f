"""Hostile and broken files are refused with a clear message, never a traceback."""

from __future__ import annotations

import tracemalloc

import pytest

from chatops.errors import IntentError
from chatops.intents.loader import parse_intent
from chatops.problems import Problem

BASE = "label_required: l\naction: up\nstack: s\n"


def problems(raw: str | bytes) -> list[Problem]:
    with pytest.raises(IntentError) as info:
        parse_intent(raw, label="f.yaml", name="f")
    return info.value.problems


def message(raw: str | bytes) -> str:
    return " | ".join(p.render() for p in problems(raw))


def test_duplicate_keys_are_an_error_not_last_one_wins() -> None:
    (p,) = problems(BASE + "stack: other\n")
    assert p.field == "stack"
    assert p.line == 4
    assert "duplicate key (first defined on line 3)" in p.message


def test_duplicate_keys_inside_a_health_check() -> None:
    (p,) = problems(BASE + "health:\n  - http: http://127.0.0.1/\n    within: 1s\n    within: 2s\n")
    assert p.field == "health[0].within"


def test_billion_laughs_is_refused_quickly_with_bounded_memory() -> None:
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for name in "bcdefghi":
        bomb += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    tracemalloc.start()
    try:
        (p,) = problems(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "more than 10000 YAML nodes" in p.message
    assert peak < 50 * 1024 * 1024


def test_recursive_alias_is_refused() -> None:
    assert "YAML nodes" in message("a: &a [*a]\n") or "nests deeper" in message("a: &a [*a]\n")


def test_aliases_within_budget_work() -> None:
    text = (
        "label_required: l\naction: up\nstack: s\nhealth:\n"
        "  - &check {http: 'http://127.0.0.1:1/', within: 5s}\n  - *check\n"
    )
    doc = parse_intent(text, label="f.yaml", name="f").documents[0]
    assert len(doc.health) == 2


def test_merge_keys_work_and_explicit_keys_win() -> None:
    text = (
        "label_required: l\naction: up\nstack: s\nhealth:\n"
        "  - &base {http: 'http://127.0.0.1:1/', within: 5s}\n"
        "  - <<: *base\n    within: 9s\n"
    )
    doc = parse_intent(text, label="f.yaml", name="f").documents[0]
    assert doc.health[1].within == 9  # type: ignore[union-attr]


def test_files_over_one_mebibyte_are_refused_before_parsing() -> None:
    (p,) = problems(BASE + "#" + "x" * (1024 * 1024) + "\n")
    assert "limited to 1 MiB" in p.message


def test_non_utf8_bytes() -> None:
    (p,) = problems(BASE.encode() + b"service: caf\xe9\n")
    assert "not UTF-8" in p.message
    assert "0xe9" in p.message
    assert p.line == 4


def test_utf8_bom_is_accepted() -> None:
    parse_intent(b"\xef\xbb\xbf" + BASE.encode(), label="f.yaml", name="f")


def test_tabs_get_a_clear_message() -> None:
    (p,) = problems("label_required: l\naction: up\nstack: s\nhealth:\n\t- tcp: 127.0.0.1:1\n")
    assert "tab character" in p.message
    assert p.line == 5


@pytest.mark.parametrize("raw", [
    b"\x00\x01\x02\x03binary",
    bytes(range(256)),
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    b"\x7fELF\x02\x01\x01\x00",
])
def test_binary_junk_is_refused(raw: bytes) -> None:
    text = message(raw)
    assert "f.yaml" in text


def test_control_characters_are_refused() -> None:
    assert "control character" in message(BASE + "service: a\x07b\n")


@pytest.mark.parametrize("raw", ["", "\n\n", "# only a comment\n"])
def test_empty_file(raw: str) -> None:
    (p,) = problems(raw)
    assert "holds no YAML document" in p.message


def test_empty_document_among_others() -> None:
    found = problems(BASE + "---\n---\n" + BASE)
    assert [(p.doc, p.docs) for p in found] == [(2, 3)]
    assert "document is empty" in found[0].message


@pytest.mark.parametrize(("raw", "expected"), [
    ("- a\n- b\n", "expected a mapping of intent fields, got a list"),
    ("just text\n", "expected a mapping of intent fields, got a string"),
    ("42\n", "expected a mapping of intent fields, got a number"),
])
def test_document_must_be_a_mapping(raw: str, expected: str) -> None:
    assert expected in message(raw)


def test_syntax_errors_are_located() -> None:
    (p,) = problems(BASE + "health: [\n")
    assert p.message.startswith("YAML syntax error:")
    assert p.line is not None


def test_unsafe_tags_are_refused() -> None:
    text = BASE + "service: !!python/object/apply:os.system ['echo pwned']\n"
    assert "unsupported YAML tag" in message(text)


def test_deep_nesting_is_refused() -> None:
    assert "f.yaml" in message(BASE + "health: " + "[" * 2000 + "]" * 2000 + "\n")


def test_complex_keys_are_refused() -> None:
    assert "mapping keys must be plain values" in message(BASE + "? [a, b]\n: c\n")


def test_too_many_documents() -> None:
    assert "more than 100 documents" in message("---\n".join([BASE] * 101))
