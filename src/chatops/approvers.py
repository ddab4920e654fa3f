"""Who may approve with a label (``label_by``): the rules' syntax, read by the intent
model, the settings and the forges alike. ``user:NAME``, ``team:ORG/TEAM``, ``group:PATH``
(GitLab) or ``permission:LEVEL`` (a level of ``LEVELS`` or above)."""

from __future__ import annotations

import re

RULE_RE = re.compile(r"^(user|team|group|permission):(\S+)$")
#: Permission levels, weakest first, as every forge's answer is mapped to them.
LEVELS = ("none", "read", "triage", "write", "maintain", "admin")
#: Without ``label_by`` (and without CHATOPS_LABEL_BY): anyone with write permission
#: except the author.
DEFAULT_LABEL_BY = ("permission:write",)
ANY = "any"


def rule_problem(rule: str) -> str | None:
    """Why ``rule`` is not a ``label_by`` entry, or None."""
    found = RULE_RE.match(rule)
    if found is None:
        return ("expected user:NAME, team:ORG/TEAM, group:PATH or permission:LEVEL, got "
                f"{rule!r}")
    kind, value = found.groups()
    if kind == "permission" and value not in LEVELS[1:]:
        return f"permission must be one of {', '.join(LEVELS[1:])}, got {value!r}"
    if kind == "team" and value.count("/") != 1:
        return f"team must be ORG/TEAM, got {value!r}"
    return None


def level_at_least(have: str, need: str) -> bool:
    return LEVELS.index(have if have in LEVELS else "none") >= LEVELS.index(need)
