"""The notification targets of this host, built from its settings.

``FORMATS`` is the registry of target kinds: each entry builds that kind's targets from
the settings (none when it is not configured). A new kind of target is one module that
implements ``Target`` and one line here.
"""

from __future__ import annotations

from collections.abc import Callable

from chatops.notify import apprise_target, kuma
from chatops.notify.targets import Target
from chatops.settings import Settings

FORMATS: dict[str, Callable[[Settings], list[Target]]] = {
    "kuma-push": kuma.targets,
    "apprise": apprise_target.targets,
}


def deliverers(settings: Settings) -> dict[str, Target]:
    """Every notification target configured on this host, by name."""
    return {target.name: target for build in FORMATS.values() for target in build(settings)}
