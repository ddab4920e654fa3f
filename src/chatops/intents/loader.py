"""One intent file to an ``IntentFile``, or every ``Problem`` with it."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msgspec.structs import replace
from pydantic import ValidationError

from chatops.errors import IntentError
from chatops.health import REGISTRY
from chatops.intents.approval import Approval
from chatops.intents.model import ACTIONS, HEALTH_KINDS, IntentDoc, check_action_rules, name_problem
from chatops.intents.yamlsafe import (
    MAX_FILE_BYTES,
    Document,
    decode,
    format_path,
    leading_comment,
    load_documents,
)
from chatops.problems import Problem

INTENT_SUFFIXES = (".yaml", ".yml")

_FIELDS: dict[str, tuple[str, ...]] = {
    "": tuple(IntentDoc.model_fields),
    **{key: tuple(kind.model.model_fields) for key, kind in REGISTRY.items()},
}


@dataclass(frozen=True)
class IntentFile:
    """A valid intent: its name (the file stem), its steps, and its comment block."""

    name: str
    path: Path
    description: str
    documents: tuple[IntentDoc, ...]
    #: The file as it was read (what the plain-secret rules read again).
    text: str = field(default="", compare=False, repr=False)

    @property
    def depends_on(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for doc in self.documents:
            for dep in doc.depends_on:
                seen.setdefault(dep, None)
        return tuple(seen)

    def summary(self) -> str:
        return "; ".join(doc.summary() for doc in self.documents)

    @property
    def schedule(self) -> str | None:
        return next((d.schedule for d in self.documents if d.schedule), None)

    @property
    def hosts(self) -> tuple[str, ...]:
        """The hosts a rolling deploy of this file goes across (empty: none)."""
        return tuple(next((d.hosts for d in self.documents if d.hosts), ()))

    @property
    def approval(self) -> Approval | None:
        """Who must approve a run of this file (its first document that says)."""
        return next((d.approval for d in self.documents if d.approval), None)


def intent_name_problem(stem: str) -> str | None:
    problem = name_problem(stem)
    return None if problem is None else f"{problem} (rename the file)"


def load_intent_file(path: Path, label: str | None = None) -> IntentFile:
    """Read and validate ``path``; raise ``IntentError`` listing every problem."""
    label = label or path.name
    try:
        with path.open("rb") as fh:
            # Read what is there (one more byte than allowed at most: decode refuses it),
            # never allocating the whole limit for a small file.
            size = os.fstat(fh.fileno()).st_size
            raw = fh.read(min(size, MAX_FILE_BYTES) + 1)
    except FileNotFoundError:
        raise IntentError([Problem(file=label, message="no such file")]) from None
    except IsADirectoryError:
        raise IntentError([Problem(file=label, message="is a directory, not a file")]) from None
    except OSError as exc:
        raise IntentError([Problem(file=label, message=f"cannot read: {exc.strerror}")]) from None
    return parse_intent(raw, label=label, name=path.stem, path=path)


def parse_intent(
    raw: bytes | str, *, label: str, name: str, path: Path | None = None
) -> IntentFile:
    """Validate the text of an intent file named ``name``."""
    problems: list[Problem] = []
    if (msg := intent_name_problem(name)) is not None:
        problems.append(Problem(file=label, field="file name", message=msg))
    text = raw if isinstance(raw, str) else decode(raw, label)
    if isinstance(raw, str) and len(raw.encode("utf-8", "surrogatepass")) > 1024 * 1024:
        decode(raw.encode("utf-8", "surrogatepass"), label)
    documents = load_documents(text, label)
    if not documents:
        problems.append(Problem(
            file=label,
            message="holds no YAML document; expected the fields of an intent "
            "(label_required, action, stack, ...)",
        ))
        raise IntentError(problems)
    total = len(documents)
    docs: list[IntentDoc] = []
    for document in documents:
        doc_problems = [replace(p, docs=total) for p in document.problems]
        intent = _validate_document(document, label, total, doc_problems)
        doc_problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        problems.extend(doc_problems)
        if intent is not None and not doc_problems:
            docs.append(intent)
    schedules = {d.schedule for d in docs if d.schedule}
    if len(schedules) > 1:
        problems.append(Problem(file=label, field="schedule", message="documents of one "
                                "intent name different schedules; set it once"))
    if problems:
        raise IntentError(problems)
    return IntentFile(
        name=name,
        path=path or Path(label),
        description=leading_comment(text),
        documents=tuple(docs),
        text=text,
    )


def _validate_document(
    document: Document, label: str, total: int, problems: list[Problem]
) -> IntentDoc | None:
    def add(path: tuple[str | int, ...], message: str) -> None:
        line, col = document.position(path)
        problems.append(Problem(
            file=label, message=message, field=format_path(path) or None,
            doc=document.index, docs=total, line=line, column=col,
        ))

    data = document.data
    if data is None:
        add((), "document is empty; expected the fields of an intent "
            "(label_required, action, stack, ...)")
        return None
    if not isinstance(data, dict):
        add((), f"expected a mapping of intent fields, got {_kind(data)}")
        return None
    try:
        intent = IntentDoc.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            path, message = _explain(error, data)
            add(path, message)
        return None
    for name, message in check_action_rules(intent):
        add((name,), message)
    return None if problems else intent


#: How a YAML value is named in messages, by its type (bool before int: it is one).
KIND_WORDS: tuple[tuple[type, str], ...] = (
    (type(None), "nothing"), (bool, "a boolean"), (list, "a list"), (dict, "a mapping"),
    (int, "a number"), (float, "a decimal number"), (str, "a string"))


def _kind(value: object) -> str:
    word = next((w for kind, w in KIND_WORDS if isinstance(value, kind)), None)
    return word or f"a {type(value).__name__}"


def _clean_loc(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """Drop the union tags pydantic adds to a health check's location."""
    out: list[str | int] = []
    for i, part in enumerate(loc):
        if i == 2 and loc[0] == "health" and isinstance(loc[1], int) and part in HEALTH_KINDS:
            continue
        out.append(part if isinstance(part, int | str) else str(part))
    return tuple(out)


def _explain(error: Any, data: dict[Any, Any]) -> tuple[tuple[str | int, ...], str]:
    path = _clean_loc(tuple(error["loc"]))
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        name = str(path[-1]) if path else ""
        scope = ""
        if len(path) >= 3 and path[0] == "health":
            check = _health_scope(data, path)
            scope = check or ""
        known = _FIELDS.get(scope, _FIELDS[""])
        hint = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        message = "unknown field"
        if hint:
            message += f"; did you mean '{hint[0]}'?"
        else:
            message += f"; expected one of: {', '.join(known)}"
        return path, message
    if kind == "missing":
        return path, "required field is missing"
    if kind == "literal_error" and path == ("action",):
        hint = difflib.get_close_matches(str(value), ACTIONS, n=1, cutoff=0.6)
        message = f"expected one of: {', '.join(ACTIONS)}; got {value!r}"
        if hint:
            message += f"; did you mean '{hint[0]}'?"
        return path, message
    if kind == "literal_error":
        return path, f"expected {ctx.get('expected', 'one of the listed values')}; got {value!r}"
    if kind == "value_error":
        return path, str(ctx.get("error", error["msg"]))
    if kind in ("string_type", "str_type"):
        return path, f"expected a string, got {_kind(value)}"
    if kind in ("int_type", "int_parsing"):
        return path, f"expected a whole number, got {_kind(value)}"
    if kind == "bool_type":
        return path, f"expected true or false, got {_kind(value)}"
    if kind == "list_type":
        return path, f"expected a list, got {_kind(value)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return path, f"expected a mapping, got {_kind(value)}"
    if kind == "health_kind":
        return path, (
            "expected a check with one of the keys http, tcp, container or kuma, "
            f"got {_kind(value)}" + (f" with keys {', '.join(map(str, value))}"
                                     if isinstance(value, dict) and value else "")
        )
    return path, str(error["msg"])


def _health_scope(data: dict[Any, Any], path: tuple[str | int, ...]) -> str | None:
    checks = data.get("health")
    index = path[1]
    if isinstance(checks, list) and isinstance(index, int) and index < len(checks):
        item = checks[index]
        if isinstance(item, dict):
            for kind in HEALTH_KINDS:
                if kind in item:
                    return kind
    return None
