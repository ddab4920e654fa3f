"""The compose policy of the repositories tests and benchmarks make: their stacks use host
networking because everything they talk to is on loopback (HARNESS.md), and the policy
refuses ``network_mode: host`` unless the repository says otherwise, as this does."""

from __future__ import annotations

from pathlib import Path

LOOPBACK_POLICY = """\
# Tests and benchmarks reach containers on 127.0.0.1 only: host networking, every stack.
exceptions:
  - name: loopback-harness
    match: {stacks: ["*"]}
    allow: [host_network]
    always: true
    reason: the harness sends traffic only to loopback
"""


def allow_loopback(root: Path) -> None:
    """Write the repository's ``chatops/policy.yaml`` (unless it has one)."""
    path = root / "chatops" / "policy.yaml"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(LOOPBACK_POLICY)
