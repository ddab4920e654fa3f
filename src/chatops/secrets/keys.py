"""The age identities of this host, read from the files SOPS reads them from.

``CHATOPS_AGE_KEY_FILE`` (or ``SOPS_AGE_KEY_FILE``): an age identity file, one
``AGE-SECRET-KEY-1...`` per line, ``#`` comments allowed (what ``age-keygen`` writes);
without it, ``$CHATOPS_STATE_DIR/age.key`` (``chatops secrets init``) and SOPS's default
``~/.config/sops/age/keys.txt``, when they exist.
``CHATOPS_AGE_SSH_KEY_FILE`` (or ``SOPS_AGE_SSH_PRIVATE_KEY_FILE``): an unencrypted
OpenSSH ed25519 or RSA private key, for files encrypted to an ``ssh-ed25519`` recipient.
A problem names the file and the line, never the key.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from msgspec import Struct, field

from chatops.errors import ConfigError

SECRET_KEY_PREFIX = "AGE-SECRET-KEY-1"  # noqa: S105 - the form of a key, not one


class AgeKeys(Struct, frozen=True):
    """The identities chatops decrypts with, and where each came from."""

    identities: tuple[Any, ...] = ()
    #: The public key (recipient) of each x25519 identity, to say which keys we hold.
    recipients: tuple[str, ...] = ()
    sources: tuple[str, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.identities)

    def describe(self) -> str:
        if not self.identities:
            return ("no age identity is configured (set CHATOPS_AGE_KEY_FILE to an age "
                    "identity file, or run 'chatops secrets init')")
        held = ", ".join(self.recipients) or "an SSH key"
        return f"this host holds {held} (from {', '.join(self.sources)})"


def read_identity_file(path: Path) -> tuple[list[Any], list[str]]:
    """The x25519 identities in an age identity file, and their public keys."""
    from pyrage import x25519  # noqa: PLC0415 - only a deploy with secrets needs it

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"CHATOPS_AGE_KEY_FILE: cannot read {path}: "
                          f"{exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"CHATOPS_AGE_KEY_FILE: {path} is not a text file") from None
    identities: list[Any] = []
    recipients: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith(SECRET_KEY_PREFIX):
            raise ConfigError(f"CHATOPS_AGE_KEY_FILE: {path}, line {number}: expected an "
                              f"age identity ({SECRET_KEY_PREFIX}...), found something else")
        try:
            identity = x25519.Identity.from_str(line)
        except Exception:
            raise ConfigError(f"CHATOPS_AGE_KEY_FILE: {path}, line {number}: not a valid "
                              "age identity") from None
        identities.append(identity)
        recipients.append(str(identity.to_public()))
    if not identities:
        raise ConfigError(f"CHATOPS_AGE_KEY_FILE: {path} holds no age identity")
    return identities, recipients


def read_ssh_key(path: Path) -> Any:
    from pyrage import ssh  # noqa: PLC0415

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"CHATOPS_AGE_SSH_KEY_FILE: cannot read {path}: "
                          f"{exc.strerror}") from None
    try:
        return ssh.Identity.from_buffer(data)
    except Exception:
        raise ConfigError(f"CHATOPS_AGE_SSH_KEY_FILE: {path} is not an unencrypted OpenSSH "
                          "ed25519 or RSA private key") from None


def key_files(configured: Path | None, state_dir: Path) -> list[Path]:
    """The identity files to read: the one configured; else the one ``chatops secrets
    init`` made (``$CHATOPS_STATE_DIR/age.key``) and SOPS's default
    (``$XDG_CONFIG_HOME/sops/age/keys.txt``), those that exist."""
    if configured is not None:
        return [configured]
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return [p for p in (state_dir / "age.key", config / "sops" / "age" / "keys.txt")
            if p.is_file()]


def load_keys(key_files: Sequence[Path], ssh_key: Path | None = None) -> AgeKeys:
    identities: list[Any] = []
    recipients: list[str] = []
    sources: list[str] = []
    for path in key_files:
        found, public = read_identity_file(path)
        identities += found
        recipients += public
        sources.append(str(path))
    if ssh_key is not None:
        identities.append(read_ssh_key(ssh_key))
        sources.append(str(ssh_key))
    return AgeKeys(tuple(identities), tuple(recipients), tuple(sources))
