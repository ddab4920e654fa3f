"""The files a compose document names, read from its YAML as written: what a deploy's
plan lists as used, what Compose's reading depends on, and where secret files may be."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import Any

from msgspec import Struct


class FileRef(Struct, frozen=True):
    path: str  # as written, relative to the compose file's folder unless absolute
    kind: str  # include, include env_file, env_file, extends, build, dockerfile, config, secret
    owner: str | None = None  # the service, config or secret that names it


def path_values(value: Any) -> Iterator[str]:
    """The paths a value names: a path, or a list of paths and ``{path: ...}`` entries
    (how ``env_file`` and ``include`` may be written)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                yield item
            elif isinstance(item, dict):
                yield from path_values(item.get("path"))


def file_refs(data: Any) -> Iterator[FileRef]:
    """Every file a compose document names, in the document's order."""
    if not isinstance(data, dict):
        return
    for entry in data.get("include") or []:
        if isinstance(entry, str):
            yield FileRef(entry, "include")
        elif isinstance(entry, dict):
            for ref in path_values(entry.get("path")):
                yield FileRef(ref, "include")
            for ref in path_values(entry.get("env_file")):
                yield FileRef(ref, "include env_file")
    services = data.get("services")
    for name, body in (services.items() if isinstance(services, dict) else ()):
        if not isinstance(body, dict):
            continue
        for ref in path_values(body.get("env_file")):
            yield FileRef(ref, "env_file", str(name))
        extends = body.get("extends")
        if isinstance(extends, dict) and isinstance(extends.get("file"), str):
            yield FileRef(extends["file"], "extends", str(name))
        build = body.get("build")
        if isinstance(build, str):
            yield FileRef(build, "build", str(name))
        elif isinstance(build, dict) and isinstance(build.get("context"), str):
            context = build["context"]
            yield FileRef(context, "build", str(name))
            if isinstance(build.get("dockerfile"), str):
                yield FileRef(posixpath.join(context, build["dockerfile"]), "dockerfile",
                              str(name))
    for section_name in ("configs", "secrets"):
        section = data.get(section_name)
        for name, body in (section.items() if isinstance(section, dict) else ()):
            if isinstance(body, dict) and isinstance(body.get("file"), str):
                yield FileRef(body["file"], section_name[:-1], str(name))
