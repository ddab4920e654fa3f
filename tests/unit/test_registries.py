"""Every kind of thing chatops can be extended with has one registry, and the docs'
table of registries names the same members: a kind added without its documentation, or
documented but never registered, fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chatops.chat.platforms import REGISTRY as PLATFORMS
from chatops.gitops.forges import FORGES
from chatops.health import REGISTRY as GATES
from chatops.identities import IDENTITY_KINDS
from chatops.intents.model import STRATEGIES
from chatops.intents.traffic import DRIVERS as DRIVER_TRAITS
from chatops.notify.configured import FORMATS
from chatops.policy.rules import RULES
from chatops.previews import registered as routers
from chatops.runner.strategies import registered
from chatops.secrets.providers import PROVIDERS
from chatops.traffic import registered as drivers

LAYOUT = Path(__file__).resolve().parents[2] / "docs" / "layout.md"


def documented() -> dict[str, set[str]]:
    """The docs' registry table (docs/layout.md): kind -> the names it lists."""
    text = LAYOUT.read_text(encoding="utf-8")
    section = text.split("## Registries: adding a kind", 1)[1].split("\n# ", 1)[0]
    rows: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0] and not set(cells[0]) <= {"-", " "} \
                and cells[0] != "kind":
            rows[cells[0]] = set(re.findall(r"`([^`]+)`", cells[2]))
    return rows


@pytest.mark.parametrize(("kind", "names"), [
    ("health gate", set(GATES)),
    ("way of running a step", set(registered())),
    ("traffic driver", set(drivers())),
    ("chat platform", set(PLATFORMS)),
    ("notification target", set(FORMATS)),
    ("forge", set(FORGES)),
    ("secret provider", set(PROVIDERS)),
    ("compose policy rule", set(RULES)),
    ("preview router", set(routers())),
])
def test_each_registry_and_the_docs_list_the_same_names(kind: str, names: set[str]) -> None:
    assert documented()[kind] == names


def test_what_the_contract_names_is_what_the_code_implements() -> None:
    assert set(DRIVER_TRAITS) == set(drivers())
    assert set(IDENTITY_KINDS) == set(PLATFORMS)
    # every strategy an intent may name runs as itself (canary without traffic, and any
    # strategy on engine swarm, run as replica-canary and swarm)
    assert set(STRATEGIES) <= set(registered())
