"""Health gates: the kinds an intent's ``health:`` may name, each registered once.

Importing this package imports every module in it, and each kind module registers its
kind (so a new kind is one new module here, and its tests); ``HealthCheck`` is the
intent model's type for one check, built from the registry (a discriminated union: the
key the check is written with names its kind).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Discriminator, Tag

from chatops.health.registry import REGISTRY, Check, GateKind, kind_of, register
from chatops.kinds import import_all

import_all(__name__)  # each kind module registers itself: the intent model reads them all

HEALTH_KINDS = tuple(REGISTRY)


def _kind(value: object) -> str | None:
    if isinstance(value, dict):
        return next((key for key in REGISTRY if key in value), None)
    if isinstance(value, Check):
        return kind_of(value).key
    return None


def _union() -> Any:
    """One check of any registered kind, told apart by its key."""
    members = tuple(Annotated[k.model, Tag(k.key)] for k in REGISTRY.values())
    *most, last = REGISTRY
    keys = f"{', '.join(most)} or {last}" if most else last
    return Annotated[Union[members],  # noqa: UP007 - built at run time from the registry
                     Discriminator(_kind, custom_error_type="health_kind",
                                   custom_error_message=f"expected a check with one of the "
                                   f"keys {keys}")]


if TYPE_CHECKING:
    HealthCheck = Check
else:
    HealthCheck = _union()

__all__ = ["HEALTH_KINDS", "REGISTRY", "Check", "GateKind", "HealthCheck", "kind_of",
           "register"]
