"""MkDocs hook: the pages that are made from the code, and the README's shared part.

- ``<!-- readme: NAME -->`` as a page's whole source: the README's section between
  ``<!-- section: NAME -->`` and ``<!-- end: NAME -->`` (the two commands are written once).
- ``<!-- generated: intent-fields -->``: every field of an intent document and of its
  blocks, from the JSON Schema ``chatops schema`` prints.
- ``<!-- generated: settings -->``: every setting, its variable, section and default, from
  the settings model. A setting no page explains in its own words fails the build.
- ``<!-- generated: api -->``: every operation of the HTTP API, from its OpenAPI document.
"""

from __future__ import annotations

import re
import secrets
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

from chatops.intents.schema import intent_json_schema
from chatops.server.serve import build
from chatops.settings import SECTIONS, Settings
from chatops.settings.names import env_names

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGE = re.compile(r"^<!-- readme: ([a-z-]+) -->\s*$")
GENERATED = re.compile(r"<!-- generated: ([a-z-]+) -->")


def section(text: str, name: str) -> str:
    start, end = f"<!-- section: {name} -->", f"<!-- end: {name} -->"
    if start not in text or end not in text:
        raise ValueError(f"README.md has no section {name!r} ({start} ... {end})")
    return text.split(start, 1)[1].split(end, 1)[0].replace("](docs/", "](")


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[1]
    if "anyOf" in prop:
        return " or ".join(_type(p) for p in prop["anyOf"] if p.get("type") != "null")
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if prop.get("type") == "array":
        return f"list of {_type(prop.get('items') or {})}"
    return str(prop.get("type", "—"))


def intent_fields() -> str:
    schema = intent_json_schema()
    models = {"intent document": schema, **schema.get("$defs", {})}
    out = []
    for name, model in models.items():
        props = model.get("properties") or {}
        if not props:
            continue
        out += [f"### {name}", "", "| field | type | default | meaning |",
                "| --- | --- | --- | --- |"]
        required = set(model.get("required") or ())
        for field, prop in props.items():
            default = "required" if field in required else f"`{prop['default']}`" \
                if "default" in prop else "—"
            out.append(f"| `{field}` | {_cell(_type(prop))} | {_cell(default)} | "
                       f"{_cell(prop.get('description', ''))} |")
        out.append("")
    return "\n".join(out)


def settings_table() -> str:
    owner = {f: name for name, model in SECTIONS.items() for f in model.model_fields}
    out = ["| variable | also read as | `CHATOPS_CONFIG` section | default |",
           "| --- | --- | --- | --- |"]
    for field, info in Settings.model_fields.items():
        names = env_names(field)
        default = "" if info.default is None else info.default
        if hasattr(default, "get_secret_value") or callable(default):
            default = ""
        out.append(f"| `{names[0]}` | {', '.join(f'`{n}`' for n in names[1:]) or '—'} | "
                   f"`[{owner.get(field, '?')}]` | {_cell(default) or '—'} |")
    return "\n".join(out)


def undocumented(pages: dict[str, str]) -> list[str]:
    """Settings whose variable no page mentions outside the generated table."""
    prose = "\n".join(pages.values())
    return [env_names(f)[0] for f in Settings.model_fields
            if not any(n in prose for n in env_names(f))]


def api_table() -> str:
    with tempfile.TemporaryDirectory() as state:
        settings = Settings.load({"CHATOPS_STATE_DIR": state, "CHATOPS_REPO": str(
            ROOT / "examples" / "demo"), "CHATOPS_API_KEY": secrets.token_urlsafe(32)})
        guard = build(settings)
        document = guard.app.openapi()  # type: ignore[attr-defined]
        guard.app.state.services.close()  # type: ignore[attr-defined]
    out = ["| method | path | what |", "| --- | --- | --- |"]
    for path, operations in sorted(document["paths"].items()):
        for method, op in operations.items():
            first = (op.get("description") or op.get("summary") or "").split("\n\n")[0]
            out.append(f"| `{method.upper()}` | `{path}` | {_cell(first)} |")
    return "\n".join(out)


MAKERS = {"intent-fields": intent_fields, "settings": settings_table, "api": api_table}
_PROSE: dict[str, str] = {}


def on_files(files: Any, config: Any) -> Any:
    """Read every page first: a setting no page explains fails the build."""
    for file in files.documentation_pages():
        _PROSE[file.src_path] = Path(file.abs_src_path).read_text(encoding="utf-8")
    _PROSE["README.md"] = README.read_text(encoding="utf-8")
    missing = undocumented(_PROSE)
    if missing:
        raise PluginError("settings no page explains (add them to docs/settings.md): "
                          + ", ".join(missing))
    return files


def on_page_read_source(page: Any, config: Any) -> str | None:
    source = Path(page.file.abs_src_path).read_text(encoding="utf-8")
    found = PAGE.match(source.strip())
    if found is not None:
        return section(README.read_text(encoding="utf-8"), found.group(1))
    if GENERATED.search(source):
        return GENERATED.sub(lambda m: MAKERS[m.group(1)](), source)
    return None
