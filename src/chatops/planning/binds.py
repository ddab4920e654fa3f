"""Bind mounts whose source is a relative path, with their line: refused on a remote
host, because Compose resolves them on this machine, not on the host (compose #9075).

Pure: it reads a compose file's text.
"""

from __future__ import annotations

import yaml


def _relative(source: str) -> bool:
    return source.startswith(("./", "../", "~")) or source in (".", "..")


def relative_binds(text: bytes | str) -> list[tuple[int, str, str]]:
    """(line, service, source) of every bind mount with a relative source."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return []  # Compose itself reports a broken file
    found: list[tuple[int, str, str]] = []
    services = _get(root, "services")
    if not isinstance(services, yaml.MappingNode):
        return found
    for key, service in services.value:
        volumes = _get(service, "volumes")
        if not isinstance(volumes, yaml.SequenceNode):
            continue
        for item in volumes.value:
            if isinstance(item, yaml.ScalarNode):
                source = str(item.value).split(":", 1)[0]
                if ":" in str(item.value) and _relative(source):
                    found.append((item.start_mark.line + 1, str(key.value), source))
            elif isinstance(item, yaml.MappingNode):
                kind, where = _get(item, "type"), _get(item, "source")
                if isinstance(where, yaml.ScalarNode) and _relative(str(where.value)) \
                        and (kind is None or getattr(kind, "value", "") == "bind"):
                    found.append((where.start_mark.line + 1, str(key.value),
                                  str(where.value)))
    return found


def _get(node: yaml.Node | None, name: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value == name:
            found: yaml.Node = value
            return found
    return None
