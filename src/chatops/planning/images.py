"""Which images a change of compose file swaps: ``web: nginx:1.25 → nginx:1.27``.

Pure: it reads two texts of a compose file (before and after), nothing else. Used where a
person must judge a change before it runs: the approval message and the pull request's
plan comment.
"""

from __future__ import annotations

import yaml
from msgspec import Struct


class ImageChange(Struct, frozen=True):
    service: str
    old: str | None  # None: the service is new
    new: str | None  # None: the service is gone

    def __str__(self) -> str:
        return f"{self.service}: {self.old or '(none)'} → {self.new or '(removed)'}"


def images_in(text: bytes | None) -> dict[str, str]:
    """Each service's image in a compose file's text ({} when it cannot be read)."""
    if not text:
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):
        return {}
    return {str(name): str(body["image"]) for name, body in services.items()
            if isinstance(body, dict) and body.get("image")}


def image_changes(old: bytes | None, new: bytes | None,
                  service: str | None = None) -> list[ImageChange]:
    """The services whose image differs between ``old`` and ``new`` (only ``service``
    when the intent names one)."""
    before, after = images_in(old), images_in(new)
    names = sorted(set(before) | set(after))
    return [ImageChange(n, before.get(n), after.get(n)) for n in names
            if before.get(n) != after.get(n) and service in (None, n)]
