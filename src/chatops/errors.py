"""The exception tree. Every error a user can meet is a ``ChatopsError``::

    ChatopsError
    ├── ConfigError            a setting or CLI flag is wrong
    ├── RepoError              the GitOps repository or an intent file cannot be found
    │   └── IntentNotFoundError
    ├── IntentError            an intent file is not valid (carries every Problem found)
    ├── EngineError            the container engine refused or cannot be reached
    │   └── EngineUnavailableError
    ├── StoreError             the run history cannot be read or written
    ├── LockBusyError          another run holds a stack and we were asked not to wait
    └── RunNotFoundError

Foreign errors (YAML, OS, subprocess) are translated where they enter.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an intent file, located as precisely as it is known."""

    file: str
    message: str
    field: str | None = None
    doc: int | None = None  # 1-based document number
    docs: int | None = None  # documents in the file
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based

    def location(self) -> str:
        where = self.file
        if self.doc is not None:
            where += f" (doc {self.doc}/{self.docs})" if self.docs else f" (doc {self.doc})"
        return where

    def render(self) -> str:
        text = self.location() + ": "
        if self.field:
            text += f"{self.field}: "
        text += self.message
        if self.line is not None:
            text += f" (line {self.line}"
            text += f", column {self.column})" if self.column is not None else ")"
        return text

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "doc": self.doc,
            "docs": self.docs,
            "field": self.field,
            "message": self.message,
            "line": self.line,
            "column": self.column,
        }


class ChatopsError(Exception):
    """Root of every error chatops raises on purpose."""

    exit_code = 4

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(ChatopsError):
    """A setting, environment variable or CLI flag has a value we cannot use."""


class RepoError(ChatopsError):
    """The GitOps repository, or a file in it, cannot be read."""


class IntentNotFoundError(RepoError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


class IntentError(ChatopsError):
    """An intent file is invalid; ``problems`` lists everything wrong with it."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0].render() if problems else "invalid intent"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first + more)
        self.problems = problems


class EngineError(ChatopsError):
    """The container engine answered with an error."""


class EngineUnavailableError(EngineError):
    """The container engine cannot be reached at all."""


class StoreError(ChatopsError):
    """The run history (SQLite) cannot be opened, read or written."""


class LockBusyError(ChatopsError):
    def __init__(self, stack: str, holder: str) -> None:
        super().__init__(
            f"stack {stack!r} is busy: {holder}; not waiting (--no-wait). Try again later."
        )
        self.stack = stack
        self.holder = holder


class RunNotFoundError(ChatopsError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run with id {run_id!r} in the run history")
        self.run_id = run_id
