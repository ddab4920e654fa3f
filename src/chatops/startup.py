"""What a ``chatops`` process does first, to start quickly.

chatops registers no pydantic plugins. Pydantic looks for them the first time it builds
a validator, and to look it imports ``importlib.metadata`` (about 45 ms on this project's
machines, more than validating a hundred intent files) only to read
``PYDANTIC_DISABLE_PLUGINS`` and find nothing to load. ``without_pydantic_plugins`` sets
that variable (unless the user set it) and, when it says ``__all__``, gives pydantic
the answer ("no plugins") before it looks.

httpx imports its own command line (``httpx._main``: click, rich, pygments' lexers,
about 50 ms) whenever those happen to be installed, as they are beside chatops.
``without_httpx_cli`` makes that optional import fail, as httpx expects when they are
absent; chatops never runs httpx's command line.

Importing what a command needs makes about a million objects, nearly all kept for the
life of the process; the cyclic garbage collector walks them again and again while they
are made (about 50 ms of a ``chatops run`` at the default thresholds, 12 ms at high
ones), and once more as the process exits. ``few_collections`` turns collection off
while a command starts; ``settled`` moves what start-up made out of the collector's
sight and turns collection back on, at the default thresholds. A command that goes on
running calls it once it has started (the service once its application has, a local
run once its use cases are wired).

A command ends with ``exit_now``: what it registered to run at exit runs (the log's
handlers are flushed and closed there), its output is flushed, and the process ends
without taking apart, one by one, the objects start-up made (about 8 ms of a ``chatops
run``): the system frees them at once.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
import types
from collections.abc import Iterable
from typing import NoReturn

_LOADER = "pydantic.plugin._loader"
_HTTPX_CLI = "httpx._main"
_DEFAULT_THRESHOLDS = gc.get_threshold()


def _no_plugins() -> Iterable[object]:
    return ()


def without_pydantic_plugins() -> None:
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if os.environ["PYDANTIC_DISABLE_PLUGINS"] != "__all__" or _LOADER in sys.modules:
        return  # the user wants some plugins, or pydantic has looked already
    loader = types.ModuleType(_LOADER, "No pydantic plugins: chatops registers none.")
    loader.get_plugins = _no_plugins  # type: ignore[attr-defined]
    sys.modules[_LOADER] = loader


def without_httpx_cli() -> None:
    if "httpx" not in sys.modules:
        sys.modules.setdefault(_HTTPX_CLI, None)  # type: ignore[arg-type]


def few_collections() -> None:
    gc.disable()


def settled() -> None:
    if gc.isenabled():
        return  # not started by ``few_collections`` (a test, a program embedding chatops)
    gc.freeze()
    gc.set_threshold(*_DEFAULT_THRESHOLDS)
    gc.enable()


def exit_now(code: int) -> NoReturn:
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe has nothing to say
            stream.flush()
    os._exit(code)
