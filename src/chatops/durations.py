"""Durations as people write them: ``90s``, ``10m``, ``1h30m``, ``500ms``, or bare seconds."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")

MAX_SECONDS = 7 * 86400.0


def parse_duration(value: object) -> float:
    """Return seconds; raise ``ValueError`` with a message fit for a user."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 10m or 1h30m, got a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif _WHOLE.fullmatch(text):
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
        else:
            raise ValueError(
                f"expected a duration such as 30s, 10m or 1h30m, got {value!r}"
            )
    else:
        raise ValueError(
            f"expected a duration such as 30s, 10m or 1h30m, got {type(value).__name__}"
        )
    if seconds <= 0:
        raise ValueError(f"expected a duration above zero, got {value!r}")
    if seconds > MAX_SECONDS:
        raise ValueError(f"expected a duration of at most 7d, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    if whole != seconds:
        return f"{seconds:g}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    return "".join(parts)
