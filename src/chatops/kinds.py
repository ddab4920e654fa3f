"""How a registry finds its kinds: each kind is a module of the registry's package, named
after it (``blue-green`` is ``blue_green.py``), that registers what it defines when
imported. A registry imports one when it is first needed (``import_kind``), so a command
pays only for the kinds it uses, or all of them (``import_all``: the docs' table, a
registry that every request reads)."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def import_kind(package: str, name: str) -> ModuleType:
    """The module of ``package`` named after the kind ``name``, imported once."""
    return importlib.import_module(f"{package}.{name.replace('-', '_')}")


def import_all(package: str) -> None:
    """Every module of ``package``, in name order, each imported once."""
    path = importlib.import_module(package).__path__
    for module in sorted(m.name for m in pkgutil.iter_modules(path)):
        importlib.import_module(f"{package}.{module}")
