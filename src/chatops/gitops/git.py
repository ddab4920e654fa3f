"""Git, run as argv lists with timeouts; its failures become ``GitError``."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from chatops.engine.environment import child_env
from chatops.errors import CheckoutDirtyError, GitError, GitUnreachableError

SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
GIT_TIMEOUT = 120.0


__all__ = ["SHA_RE", "CheckoutDirtyError", "Git", "GitError", "GitUnreachableError"]

@dataclass(frozen=True)
class Git:
    repo: Path
    timeout: float = GIT_TIMEOUT

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # No prompts (a missing credential fails instead of hanging), no pager, stable text.
        env = child_env({"GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "LC_ALL": "C",
                         "GIT_ASKPASS": "/bin/false"}, prefixes=("GIT_SSH",))
        try:
            done = subprocess.run(
                ["git", "-C", str(self.repo), *args], capture_output=True, text=True,
                timeout=self.timeout, env=env, check=False, stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            raise GitError("git is not installed (apt-get install git)") from None
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} did not finish within {self.timeout:g}s") from None
        if check and done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise GitError(f"git {args[0]} failed: {detail[-1] if detail else done.returncode}")
        return done

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.strip()
