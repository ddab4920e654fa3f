"""Git, run as argv lists with timeouts; its failures become ``GitError``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from msgspec import Struct

from chatops.engine.environment import child_env
from chatops.errors import CheckoutDirtyError, GitError, GitUnreachableError

SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
#: The null object id: the old head of a branch created, the new head of one deleted.
ZERO_SHA = "0" * 40
GIT_TIMEOUT = 120.0


__all__ = ["SHA_RE", "CheckoutDirtyError", "Git", "GitError", "GitUnreachableError"]

class Git(Struct, frozen=True):
    repo: Path
    timeout: float = GIT_TIMEOUT

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                ["git", "-C", str(self.repo), *args], capture_output=True, text=True,
                timeout=self.timeout, env=_env(), check=False, stdin=subprocess.DEVNULL,
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

    def blobs(self, sha: str, paths: list[str]) -> dict[str, bytes | None]:
        """Many files at ``sha`` from one ``git cat-file --batch`` (None: no such file)."""
        if not paths:
            return {}
        wanted = "".join(f"{sha}:{p}\n" for p in paths).encode("utf-8", "surrogateescape")
        try:
            done = subprocess.run(["git", "-C", str(self.repo), "cat-file", "--batch"],
                                  input=wanted, capture_output=True, timeout=self.timeout,
                                  env=_env(), check=False)
        except FileNotFoundError:
            raise GitError("git is not installed (apt-get install git)") from None
        except subprocess.TimeoutExpired:
            raise GitError(f"git cat-file did not finish within {self.timeout:g}s") from None
        if done.returncode != 0:
            raise GitError(f"git cat-file failed: {done.stderr.decode(errors='replace')}")
        found: dict[str, bytes | None] = {}
        out, at = done.stdout, 0
        for path in paths:
            end = out.index(b"\n", at)
            header = out[at:end].split()
            at = end + 1
            if len(header) == 3 and header[1] == b"blob":
                size = int(header[2])
                found[path] = out[at:at + size]
                at += size + 1  # the content, then a newline
            else:  # "<name> missing", or a tree or submodule at that path
                found[path] = None
                if len(header) == 3:
                    at += int(header[2]) + 1
        return found


def _env() -> dict[str, str]:
    # No prompts (a missing credential fails instead of hanging), no pager, stable text.
    return child_env({"GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "LC_ALL": "C",
                      "GIT_ASKPASS": "/bin/false"}, prefixes=("GIT_SSH",))
