"""Property: whatever bytes or values arrive, the loader accepts them or raises IntentError."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatops.errors import IntentError
from chatops.intents.loader import IntentFile, parse_intent
from chatops.intents.model import ACTIONS

FIELDS = ["label_required", "action", "stack", "service", "compose", "replicas", "depends_on",
          "timeout", "health", "rollback", "destructive", "servce", "x"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
    st.text(max_size=20), st.sampled_from([*ACTIONS, "10m", "60s", "-1s", "stack-media", "plex",
                                           "http://127.0.0.1:80/", "127.0.0.1:80", "../x.yml"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["http", "tcp", "container", "within", "status", "body", "state", "k"]),
        inner, max_size=4),
    max_leaves=12,
)
intent_dicts = st.dictionaries(st.sampled_from(FIELDS), values, max_size=8)


def accepts_or_refuses(raw: str | bytes) -> None:
    try:
        result = parse_intent(raw, label="p.yaml", name="p")
    except IntentError as exc:
        problems = exc.problems
    else:
        assert isinstance(result, IntentFile)
        return
    assert problems
    assert all(p.file == "p.yaml" and p.render() for p in problems)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(intent_dicts)
def test_random_intent_dictionaries(doc: dict[str, object]) -> None:
    accepts_or_refuses(yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_random_text(text: str) -> None:
    accepts_or_refuses(text)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(raw: bytes) -> None:
    accepts_or_refuses(raw)


yaml_fragments = st.lists(st.sampled_from([
    "label_required: l\n", "action: rollout\n", "stack: s\n", "---\n", "- ", "  ", "&a ", "*a ",
    "<<: *a\n", "{", "}", "[", "]", ": ", "? ", "!!str ", "!!python/object ", "health:\n",
    "  - http: http://127.0.0.1:1/\n", "\t", "#c\n", "'", '"', "|\n", ">\n", "%YAML 1.1\n",
    "k: v\n", "k: v\n", "\n",
]), max_size=30)


@settings(max_examples=500, deadline=None)
@given(yaml_fragments)
def test_random_yaml_shaped_text(parts: list[str]) -> None:
    accepts_or_refuses("".join(parts))
