"""Where chatops keeps its state on this host. Standard library only: the CLI reads this
before it knows whether it needs anything heavier."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def default_state_dir(env: Mapping[str, str] | None = None) -> str:
    """``CHATOPS_STATE_DIR``; else /var/lib/chatops for root, ~/.local/state/chatops otherwise."""
    env = os.environ if env is None else env
    if env.get("CHATOPS_STATE_DIR"):
        return env["CHATOPS_STATE_DIR"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/var/lib/chatops"
    base = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "chatops")


def run_markers_present(lock_dir: Path) -> bool:
    """Cheap: is any run holding, or did any die holding, a liveness marker?"""
    try:
        with os.scandir(lock_dir) as entries:
            return any(e.name.startswith("run-") for e in entries)
    except OSError:
        return False
