"""What a ``chatops`` process does first, to start quickly.

chatops registers no pydantic plugins. Pydantic looks for them the first time it builds
a validator, and to look it imports ``importlib.metadata`` (about 45 ms on this project's
machines, more than validating a hundred intent files) only to read
``PYDANTIC_DISABLE_PLUGINS`` and find nothing to load. ``without_pydantic_plugins`` sets
that variable (unless the user set it) and, when it says ``__all__``, gives pydantic
the answer ("no plugins") before it looks.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterable

_LOADER = "pydantic.plugin._loader"


def _no_plugins() -> Iterable[object]:
    return ()


def without_pydantic_plugins() -> None:
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if os.environ["PYDANTIC_DISABLE_PLUGINS"] != "__all__" or _LOADER in sys.modules:
        return  # the user wants some plugins, or pydantic has looked already
    loader = types.ModuleType(_LOADER, "No pydantic plugins: chatops registers none.")
    loader.get_plugins = _no_plugins  # type: ignore[attr-defined]
    sys.modules[_LOADER] = loader
