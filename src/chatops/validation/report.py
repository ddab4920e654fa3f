"""The validator's output: the seed's text format, or JSON for machines."""

from __future__ import annotations

import json
from typing import Any

from chatops.validation.validator import Report


def _files(n: int) -> str:
    return f"{n} intent file" if n == 1 else f"{n} intent files"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def render_text(report: Report) -> str:
    """``Validating 6 intent files...`` / ``  ✓ f.yaml (doc 1/1): rollout on s`` / verdict."""
    out = [f"Validating {_files(len(report.files))}..."]
    for problem in report.problems:
        out.append(f"  ✗ {problem.render()}")
    for result in report.files:
        if result.intent is not None and not result.problems:
            docs = result.intent.documents
            for i, doc in enumerate(docs, start=1):
                out.append(f"  ✓ {result.label} (doc {i}/{len(docs)}): {doc.summary()}")
        for problem in result.problems:
            out.append(f"  ✗ {problem.render()}")
    if report.ok:
        n = len(report.files)
        out.append(
            "✅ 1 intent file is valid!" if n == 1 else f"✅ All {n} intent files are valid!"
        )
    else:
        out.append(
            f"❌ Validation failed: {_plural(report.error_count, 'error')} in "
            f"{_plural(report.failed_files, 'file')}"
        )
    return "\n".join(out) + "\n"


def render_json(report: Report) -> str:
    files: list[dict[str, Any]] = []
    for result in report.files:
        docs = result.intent.documents if result.intent else ()
        files.append({
            "file": result.label,
            "path": str(result.path),
            "name": result.path.stem,
            "valid": result.ok,
            "description": result.intent.description if result.intent else None,
            "documents": [
                {"doc": i, "docs": len(docs), "action": d.action, "stack": d.stack,
                 "service": d.service, "summary": d.summary()}
                for i, d in enumerate(docs, start=1)
            ],
            "errors": [p.as_dict() for p in result.problems],
        })
    body = {
        "valid": report.ok,
        "file_count": len(report.files),
        "error_count": report.error_count,
        "failed_file_count": report.failed_files,
        "errors": [p.as_dict() for p in report.problems],
        "files": files,
    }
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"
