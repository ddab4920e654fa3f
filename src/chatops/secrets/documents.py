"""The documents SOPS encrypts, read and written as SOPS reads and writes them: which form
a file is in (YAML, JSON, dotenv, or the binary form), its values in document order as
Go's yaml.v3 decodes them (YAML 1.2: ``yes`` stays a string), the flat metadata of
dotenv files, and the plain text ``sops -d`` prints. Nothing here decrypts."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any, Literal

import yaml

from chatops.errors import SecretError

Format = Literal["yaml", "json", "dotenv", "binary"]

_DOTENV_MAC = re.compile(rb"^sops_mac=", re.M)
_DOTENV_MODIFIED = re.compile(rb"^sops_lastmodified=", re.M)
_YAML_SOPS = re.compile(rb"^sops:[ \t]*(#.*)?\r?$", re.M)


def sops_format(data: bytes) -> Format | None:
    """Which SOPS form ``data`` is in, or None for a plain file."""
    if b"sops" not in data:
        return None
    head = data.lstrip()[:1]
    if head == b"{":
        try:
            doc = json.loads(data)
        except ValueError:
            return None
        if isinstance(doc, dict) and isinstance(doc.get("sops"), dict):
            return "binary" if _is_binary(doc) else "json"
        return None
    if _DOTENV_MAC.search(data) and _DOTENV_MODIFIED.search(data):
        return "dotenv"
    if _YAML_SOPS.search(data):
        return "yaml"
    return None


def is_sops(data: bytes) -> bool:
    return sops_format(data) is not None


def _is_binary(doc: dict[str, Any]) -> bool:
    return set(doc) == {"data", "sops"} and isinstance(doc["data"], str)


# -- reading the document -------------------------------------------------------------------

def plain_yaml(text: str) -> Any:
    """A YAML document as Compose and SOPS (Go's yaml.v3) read it, merge keys applied:
    what can be written back without changing its meaning (``80:80`` stays a string)."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    return None if node is None else _yaml_value(node, merge=True)


def _yaml_value(node: yaml.Node, *, merge: bool = False) -> Any:
    """A YAML node as Go's yaml.v3 (YAML 1.2 core schema) decodes it: ``yes`` stays a
    string, keys stay strings, order is kept."""
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        merged: list[Any] = []
        for key, value in node.value:
            if merge and key.tag == "tag:yaml.org,2002:merge":
                sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
                merged += [_yaml_value(v, merge=True) for v in sources]
                continue
            out[str(key.value) if isinstance(key, yaml.ScalarNode) else str(key)] = \
                _yaml_value(value, merge=merge)
        for source in merged:
            for name, value in (source.items() if isinstance(source, dict) else ()):
                out.setdefault(name, value)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_yaml_value(v, merge=merge) for v in node.value]
    assert isinstance(node, yaml.ScalarNode)  # noqa: S101 - the three kinds of node
    text = node.value
    if node.style is not None:
        return text
    return _plain_scalar(text)


def _plain_scalar(text: str) -> Any:
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if re.fullmatch(r"[-+]?[0-9]+", text):
        return int(text)
    if re.fullmatch(r"0o[0-7]+|0x[0-9a-fA-F]+", text):
        return int(text, 0)
    if re.fullmatch(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?", text):
        return float(text)
    return text


class _Dumper(yaml.SafeDumper):
    """Writes a string in quotes whenever YAML 1.1 or 1.2 would read it as something else
    (``0o17``, ``yes``), so Compose reads back what was read."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if not isinstance(_plain_scalar(value), str):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_str(value)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False)


def load_document(data: bytes, fmt: Format, name: str) -> tuple[Any, dict[str, Any]]:
    """The document (without its metadata) and the metadata."""
    try:
        if fmt == "dotenv":
            return _load_dotenv(data.decode("utf-8"))
        if fmt == "yaml":
            node = yaml.compose(data.decode("utf-8"), Loader=yaml.SafeLoader)
            doc = _yaml_value(node) if node is not None else None
        else:
            doc = json.loads(data)
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SecretError(f"{name}: a SOPS file that cannot be parsed as {fmt}: "
                          f"{reason} (is it truncated?)") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("sops"), dict):
        raise SecretError(f"{name}: a SOPS file without its sops metadata (is it truncated?)")
    meta = doc.pop("sops")
    return doc, meta


def _load_dotenv(text: str) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    items: list[tuple[str, str]] = []
    flat: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"line {number} is not KEY=value")
        value = value.replace("\\n", "\n")
        if key.startswith("sops_"):
            flat[key[len("sops_"):]] = value
        else:
            items.append((key, value))
    return items, _unflatten(flat)


def _unflatten(flat: dict[str, str]) -> dict[str, Any]:
    """SOPS's flat metadata (``age__list_0__map_enc``) as the nested form."""
    meta: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split("__")
        node: Any = meta
        for i, token in enumerate(parts):
            last = i == len(parts) - 1
            if token.startswith("list_"):
                index = int(token[len("list_"):])
                while len(node) <= index:
                    node.append(None)
                if last:
                    node[index] = value
                else:
                    if node[index] is None:
                        node[index] = [] if parts[i + 1].startswith("list_") else {}
                    node = node[index]
                continue
            part = token.removeprefix("map_")
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, [] if parts[i + 1].startswith("list_") else {})
    for name in ("mac_only_encrypted",):
        if isinstance(meta.get(name), str):
            meta[name] = meta[name].lower() == "true"
    return meta


# -- opening it -----------------------------------------------------------------------------


def go_bytes(value: Any) -> bytes:
    """A plain value's bytes as SOPS hashes it (Go's formatting of numbers and booleans)."""
    if isinstance(value, bool):
        return b"True" if value else b"False"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        if math.isnan(value):
            return b"NaN"
        if value in (float("inf"), float("-inf")):
            return b"+Inf" if value > 0 else b"-Inf"
        text = format(Decimal(repr(value)), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text.encode()
    if isinstance(value, bytes):
        return value
    return str(value).encode()


def emit(doc: Any, fmt: Format) -> bytes:
    if fmt == "binary":
        data = doc.get("data", b"")
        return data if isinstance(data, bytes) else str(data).encode()
    if fmt == "dotenv":
        return "".join(f"{k}={_env_text(v)}\n" for k, v in doc).encode()
    if fmt == "json":
        return (json.dumps(doc, indent=4, ensure_ascii=False) + "\n").encode()
    return dump_yaml(doc).encode()


def _env_text(value: Any) -> str:
    text = go_bytes(value).decode() if not isinstance(value, str) else value
    return text.replace("\n", "\\n")
