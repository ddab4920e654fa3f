"""One thing wrong with an input (an intent file, a setting), located as precisely as it
is known: what ``IntentError`` carries, and what ``chatops validate`` prints."""

from __future__ import annotations

from msgspec import Struct


class Problem(Struct, frozen=True):
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
