"""Reading YAML we did not write, safely.

PyYAML's C parser builds the node graph; we construct plain Python values from it
ourselves so that we can (a) reject duplicate keys, which PyYAML silently resolves to
the last one, (b) bound the work an alias bomb ("billion laughs") can cause, since
every alias expansion counts against a per-document node budget, (c) bound nesting,
and (d) remember where every key sits, so errors can name a line and column.
Only the YAML 1.1 safe tags are understood.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml
from msgspec import Struct, field
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from chatops.errors import IntentError
from chatops.problems import Problem

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES_PER_DOCUMENT = 10_000
MAX_DEPTH = 64
MAX_DOCUMENTS = 100

_MERGE_TAG = "tag:yaml.org,2002:merge"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
#: PyYAML's safe loader, the C one where PyYAML was built with libyaml.
SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: How each plain value resolved (str, int, bool, null...), shared by every file read:
#: intent files repeat the same keys and values, and resolving one runs the resolvers'
#: regular expressions. The safe loader has no path resolvers, so the answer depends on
#: the value alone.
_RESOLVED: dict[tuple[Any, Any, tuple[bool, bool]], str] = {}
_RESOLVED_MAX = 8192


class _Loader(SAFE_LOADER):  # type: ignore[misc]
    def resolve(self, kind: Any, value: Any, implicit: tuple[bool, bool]) -> str:
        key = (kind, value, implicit)
        tag = _RESOLVED.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(_RESOLVED) < _RESOLVED_MAX:
                _RESOLVED[key] = tag
        return tag
_SCALARS = yaml.constructor.SafeConstructor.yaml_constructors

Path_ = tuple[str | int, ...]


class Document(Struct):
    """One YAML document: its value and where each key or item starts (1-based)."""

    index: int
    data: object
    line: int
    column: int
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def position(self, path: Path_) -> tuple[int, int]:
        """The position of ``path``, or of its nearest known parent."""
        while path:
            found = self.positions.get(path)
            if found is not None:
                return found
            path = path[:-1]
        return (self.line, self.column)


class _AbortError(Exception):
    def __init__(self, message: str, node: Node) -> None:
        super().__init__(message)
        self.message = message
        self.node = node


class _Builder:
    """Turns one document's node graph into Python values, within budgets."""

    def __init__(self, doc: Document, label: str, docs_hint: int | None) -> None:
        self.doc = doc
        self.label = label
        self.docs_hint = docs_hint
        self.nodes = 0
        self.constructor = yaml.constructor.SafeConstructor()

    def problem(self, message: str, node: Node, path: Path_) -> None:
        mark = node.start_mark
        self.doc.problems.append(
            Problem(
                file=self.label,
                message=message,
                field=format_path(path) or None,
                doc=self.doc.index,
                docs=self.docs_hint,
                line=mark.line + 1,
                column=mark.column + 1,
            )
        )

    def build(self, node: Node, path: Path_, depth: int) -> object:
        self.nodes += 1
        if self.nodes > MAX_NODES_PER_DOCUMENT:
            raise _AbortError(
                f"document expands to more than {MAX_NODES_PER_DOCUMENT} YAML nodes "
                "(aliases count each time they are used); intent documents are small",
                node,
            )
        if depth > MAX_DEPTH:
            raise _AbortError(f"document nests deeper than {MAX_DEPTH} levels", node)
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if node.tag not in (_SEQ_TAG, _MAP_TAG):
            self.problem(f"unsupported YAML tag {node.tag!s}", node, path)
            return None
        if isinstance(node, SequenceNode):
            items = []
            for i, child in enumerate(node.value):
                mark = child.start_mark
                self.doc.positions[(*path, i)] = (mark.line + 1, mark.column + 1)
                items.append(self.build(child, (*path, i), depth + 1))
            return items
        if isinstance(node, MappingNode):
            return self.mapping(node, path, depth)
        raise _AbortError(f"unsupported YAML node {node.tag}", node)  # pragma: no cover

    def scalar(self, node: ScalarNode, path: Path_) -> object:
        if node.tag == _STR_TAG:
            return node.value
        make = _SCALARS.get(node.tag)
        if make is None or node.tag in ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"):
            self.problem(f"unsupported YAML tag {node.tag!s}", node, path)
            return None
        try:
            return make(self.constructor, node)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            self.problem(f"cannot read this {node.tag.rsplit(':', 1)[-1]}: {exc}", node, path)
            return None

    def mapping(self, node: MappingNode, path: Path_, depth: int) -> dict[object, object]:
        result: dict[object, object] = {}
        explicit: dict[object, Node] = {}
        merged: list[dict[object, object]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(self.merge_sources(value_node, path, depth))
                continue
            if not isinstance(key_node, ScalarNode):
                self.problem("mapping keys must be plain values, not lists or mappings",
                             key_node, path)
                continue
            key = self.scalar(key_node, path)
            try:
                hash(key)
            except TypeError:
                self.problem("mapping keys must be plain values", key_node, path)
                continue
            mark = key_node.start_mark
            if key in explicit:
                first = explicit[key].start_mark.line + 1
                self.problem(
                    f"duplicate key (first defined on line {first}); "
                    "YAML keeps only one of them, so remove the other",
                    key_node,
                    (*path, _key(key)),
                )
                continue
            explicit[key] = key_node
            where = (*path, _key(key))
            self.doc.positions[where] = (mark.line + 1, mark.column + 1)
            self.nodes += 1
            result[key] = self.build(value_node, where, depth + 1)
        if merged:
            base: dict[object, object] = {}
            for source in merged:
                for k, v in source.items():
                    base.setdefault(k, v)
            base.update(result)
            return base
        return result

    def merge_sources(self, node: Node, path: Path_, depth: int) -> Iterator[dict[object, object]]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, MappingNode):
                self.problem("a merge key (<<) takes a mapping or a list of mappings", source, path)
                continue
            value = self.build(source, path, depth + 1)
            if isinstance(value, dict):
                yield value


def _key(key: object) -> str | int:
    kind = type(key)
    if kind is str or kind is int:  # nearly every key: no isinstance over a union
        return key  # type: ignore[return-value]
    return key if isinstance(key, str | int) and not isinstance(key, bool) else str(key)


def format_path(path: Path_) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def decode(raw: bytes, label: str) -> str:
    """Bytes of an intent file to text, refusing what is not UTF-8 text."""
    if len(raw) > MAX_FILE_BYTES:
        raise IntentError([Problem(
            file=label,
            message=f"file is {len(raw) / 1024 / 1024:.1f} MiB; intent files are limited to 1 MiB",
        )])
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise IntentError([Problem(
            file=label,
            message=f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start} "
            "cannot be decoded; save the file as UTF-8",
            line=line,
        )]) from None
    if "\x00" in text:
        at = text.index("\x00")
        raise IntentError([Problem(
            file=label,
            message="binary data (a NUL byte) is not allowed in an intent file",
            line=text.count("\n", 0, at) + 1,
        )])
    return text


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.split("\n", line + 1)
    if line < len(lines) and column < len(lines[line]):
        return lines[line][column]
    return ""


def _syntax_problem(exc: yaml.YAMLError, label: str, doc: int, text: str) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = str(getattr(exc, "problem", None) or exc)
    context = getattr(exc, "context", None)
    at = _char_at(text, mark.line, mark.column) if mark is not None else ""
    if "'\\t'" in problem or at == "\t":
        message = "a tab character is used for indentation; YAML allows only spaces"
    elif isinstance(exc, yaml.reader.ReaderError) or "unacceptable character" in problem:
        message = f"a control character is not allowed here ({problem})"
    else:
        message = "YAML syntax error: " + problem
        if context:
            message += f" ({context})"
    line = col = None
    if mark is not None:
        line, col = mark.line + 1, mark.column + 1
    return Problem(file=label, message=message, doc=doc, line=line, column=col)


def load_documents(text: str, label: str) -> list[Document]:
    """Parse every document of ``text``; raise ``IntentError`` for what cannot be read.

    Documents that parse are returned even when their values have problems
    (duplicate keys, odd tags); those are on ``Document.problems``.
    """
    documents: list[Document] = []
    loader = _Loader(text)
    try:
        while loader.check_node():
            if len(documents) >= MAX_DOCUMENTS:
                raise IntentError([Problem(
                    file=label, message=f"more than {MAX_DOCUMENTS} documents in one file"
                )])
            node = loader.get_node()
            index = len(documents) + 1
            if node is None:  # pragma: no cover - check_node said there was one
                break
            mark = node.start_mark
            doc = Document(index=index, data=None, line=mark.line + 1, column=mark.column + 1)
            builder = _Builder(doc, label, None)
            try:
                doc.data = builder.build(node, (), 0)
            except _AbortError as abort:
                m = abort.node.start_mark
                raise IntentError([Problem(
                    file=label, message=abort.message, doc=index,
                    line=m.line + 1, column=m.column + 1,
                )]) from None
            documents.append(doc)
    except yaml.YAMLError as exc:
        raise IntentError([_syntax_problem(exc, label, len(documents) + 1, text)]) from None
    except RecursionError:
        raise IntentError([Problem(
            file=label, message="YAML nests too deeply to read", doc=len(documents) + 1
        )]) from None
    finally:
        loader.dispose()
    return documents


def leading_comment(text: str) -> str:
    """The ``#`` comment block that opens a file, without the ``#`` marks.

    Editor modelines (``# yaml-language-server: ...``) are left out.
    """
    lines: list[str] = []
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped and not lines:
            continue
        if not stripped.startswith("#"):
            break
        body = stripped[1:]
        body = body[1:] if body.startswith(" ") else body
        if body.startswith("yaml-language-server:"):
            continue
        lines.append(body.rstrip())
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)
