"""``secret://PROVIDER/PATH#KEY``: a value kept in a secret manager, named in Git.

A value of that form in an env file (the ``.env`` Compose interpolates from, or an
``env_file``), plain or SOPS-encrypted, is resolved when a run starts, through the
provider it names (``secrets.providers``), and the env file Compose reads holds the
value instead. Git holds only the reference; the run record, the plan and every message
hold only the reference too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from msgspec import Struct

from chatops.errors import SecretError

SCHEME = "secret://"
REFERENCE = re.compile(r"^secret://([a-z0-9][a-z0-9-]*)/([^#\s?]+)(?:#([^\s]+))?$")
_LINE = re.compile(r"^(\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*\s*=\s*)(.*?)\s*$")


class Reference(Struct, frozen=True, order=True):
    provider: str
    path: str
    key: str | None = None

    def __str__(self) -> str:
        return f"{SCHEME}{self.provider}/{self.path}" + (f"#{self.key}" if self.key else "")


def parse_reference(text: str, where: str) -> Reference:
    match = REFERENCE.match(text)
    if match is None:
        raise SecretError(f"{where}: {text!r} is not a secret reference; expected "
                          "secret://PROVIDER/PATH#KEY")
    return Reference(match.group(1), match.group(2), match.group(3))


def _unquoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def references_in(text: str, where: str) -> Iterator[tuple[int, Reference]]:
    """Each ``(line number, reference)`` of a dotenv text."""
    for number, line in enumerate(text.splitlines(), start=1):
        match = _LINE.match(line)
        if match is None or line.lstrip().startswith("#"):
            continue
        value = _unquoted(match.group(2))
        if value.startswith(SCHEME):
            yield number, parse_reference(value, f"{where}, line {number}")


def quoted(value: str) -> str:
    """A value as a dotenv line holds it literally (Compose's reading of quotes)."""
    if "\n" not in value and "'" not in value:
        return f"'{value}'"
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")
               .replace("\n", "\\n"))
    return f'"{escaped}"'


def substitute(text: str, values: Mapping[Reference, str], where: str) -> str:
    """The dotenv text with each reference replaced by its value."""
    out: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _LINE.match(line)
        value = _unquoted(match.group(2)) if match else ""
        if match is not None and value.startswith(SCHEME) and not line.lstrip().startswith("#"):
            ref = parse_reference(value, f"{where}, line {number}")
            out.append(match.group(1) + quoted(values[ref]))
        else:
            out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") or out else "")
