"""Where chatops keeps its state on this host. Standard library only: the CLI reads this
before it knows whether it needs anything heavier."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The sections a ``CHATOPS_CONFIG`` file may group its keys in (``[server]``, ...); the
#: settings check that theirs are the same.
SECTIONS = ("deploy", "notify", "traffic", "approval", "server", "chat", "secrets")


def read_config(path: str | None) -> dict[str, Any]:
    """The TOML file ``CHATOPS_CONFIG`` names, its sections flattened: the one reader of
    it. ``ValueError`` says what is wrong (the settings turn it into a ``ConfigError``)."""
    if not path:
        return {}
    import tomllib  # noqa: PLC0415 - only with a config file

    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ValueError(f"no such file {path!r}") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read {path!r}: {exc}") from None
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECTIONS and isinstance(value, dict):
            for inner, item in value.items():
                if inner in flat:
                    raise ValueError(f"{path}: {inner!r} is set twice ([{key}] and above)")
                flat[inner] = item
        elif key in flat:
            raise ValueError(f"{path}: {key!r} is set twice")
        else:
            flat[key] = value
    return flat


def configured(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """Setting ``name`` as every command reads it before the full settings: its
    ``CHATOPS_`` variable, else the TOML file ``CHATOPS_CONFIG`` names (what is wrong with
    that file is said by the settings, which read it whole)."""
    env = os.environ if env is None else env
    value = env.get(f"CHATOPS_{name.upper()}")
    if value:
        return value
    try:
        found = read_config(env.get("CHATOPS_CONFIG")).get(name)
    except ValueError:
        return None
    return str(found) if isinstance(found, str | int | float) and str(found) else None


def default_state_dir(env: Mapping[str, str] | None = None) -> str:
    """``CHATOPS_STATE_DIR`` (or ``state_dir`` in ``CHATOPS_CONFIG``); else
    /var/lib/chatops for root, ~/.local/state/chatops otherwise."""
    env = os.environ if env is None else env
    chosen = configured("state_dir", env)
    if chosen:
        return chosen
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/var/lib/chatops"
    base = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "chatops")


#: Every file and folder chatops keeps in its state directory, by the name code uses.
STATE_FILES = {
    "db": "chatops.sqlite3",  # the run history
    "outbox": "outbox.sqlite3",  # notifications not delivered yet
    "schedules": "schedules.sqlite3",  # the scheduler's last fires
    "audit": "audit.sqlite3",  # the hash-chained audit trail
    "socket": "chatops.sock",  # where a running service answers chatops commands
    "locks": "locks",  # per-stack and per-run locks
    "swarm": "swarm",  # the pins files of Swarm stacks
    "hosts": "hosts",  # SSH control sockets of named hosts
    "sealed": "sealed",  # SOPS files deploys used, still encrypted, by hash (rollbacks)
    "log": "chatops.log",  # JSON log lines of commands run at a terminal
}


class StatePaths:
    """Every file chatops keeps in its state directory, named once (``STATE_FILES``).
    (A plain class: ``dataclasses`` costs the fast commands more than they spend.)"""

    __slots__ = ("root",)

    def __init__(self, root: Path) -> None:
        self.root = root

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StatePaths) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def __repr__(self) -> str:
        return f"StatePaths({str(self.root)!r})"

    @classmethod
    def resolve(cls, env: Mapping[str, str] | None = None) -> StatePaths:
        return cls(Path(default_state_dir(env)).expanduser())

    def __getattr__(self, name: str) -> Path:
        try:
            return self.root / STATE_FILES[name]
        except KeyError:
            raise AttributeError(name) from None



PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) as the state directory is made: 0700 whatever the
    umask (the umask only ever takes bits away). An existing folder is left as it is:
    ``wider_than_private`` reports it."""
    if not path.is_dir():
        missing = [path, *[p for p in path.parents if not p.exists()]]
        for folder in reversed(missing):  # the folders chatops creates are all private
            folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)
            os.chmod(folder, PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty and 0600 before anything writes it (SQLite gives its -wal
    and -shm files the database file's mode)."""
    private_dir(path.parent)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
        os.chmod(path, PRIVATE_FILE)
    return path


def wider_than_private(state_dir: Path) -> list[str]:
    """The state directory and the files in it that others than its owner may read."""
    found = []
    try:
        mode = state_dir.stat().st_mode & 0o777
    except OSError:
        return []
    if mode & 0o077:
        found.append(f"{state_dir} (mode {mode:04o})")
    for entry in sorted(state_dir.rglob("*")):
        try:
            if entry.is_symlink() or entry.is_socket():
                continue
            mode = entry.stat().st_mode & 0o777
        except OSError:
            continue
        if mode & 0o077:
            found.append(f"{entry} (mode {mode:04o})")
    return found


def run_markers_present(lock_dir: Path) -> bool:
    """Cheap: is any run holding, or did any die holding, a liveness marker?"""
    try:
        with os.scandir(lock_dir) as entries:
            return any(e.name.startswith("run-") for e in entries)
    except OSError:
        return False
