"""MkDocs hook: the site's pages are the README's sections, so there is one text to keep.

A page whose source is ``<!-- readme: NAME -->`` gets the README's section between
``<!-- section: NAME -->`` and ``<!-- end: NAME -->``, with its links to ``docs/`` made
relative to the site's pages (which live in ``docs/``). A name the README lacks fails the
build, naming it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"
PAGE = re.compile(r"^<!-- readme: ([a-z-]+) -->\s*$")


def section(text: str, name: str) -> str:
    start, end = f"<!-- section: {name} -->", f"<!-- end: {name} -->"
    if start not in text or end not in text:
        raise ValueError(f"README.md has no section {name!r} ({start} ... {end})")
    return text.split(start, 1)[1].split(end, 1)[0].replace("](docs/", "](")


def on_page_read_source(page: Any, config: Any) -> str | None:
    source = Path(page.file.abs_src_path).read_text(encoding="utf-8")
    found = PAGE.match(source.strip())
    if found is None:
        return None
    return section(README.read_text(encoding="utf-8"), found.group(1))
