"""The benchmarks' repositories allow host networking (their stacks are reached on
loopback only), as the tests' do: ``tests.policy_kit``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.policy_kit import LOOPBACK_POLICY, allow_loopback

__all__ = ["LOOPBACK_POLICY", "allow_loopback"]
