"""The seed's CI validator, as its workflow describes it: pydantic plus yaml.safe_load_all.

A baseline for bench/validate.py only; it checks far less than ``chatops validate``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError


class Intent(BaseModel):
    label_required: str
    action: str
    stack: str
    service: str | None = None
    compose: str | None = None


def main(folder: str) -> int:
    files = sorted(Path(folder).glob("*.yaml"))
    print(f"Validating {len(files)} intent files...")
    errors = 0
    for path in files:
        with path.open() as fh:
            docs = list(yaml.safe_load_all(fh))
        for i, data in enumerate(docs, start=1):
            try:
                intent = Intent(**data)
            except ValidationError as exc:
                errors += 1
                print(f"  ✗ {path.name} (doc {i}/{len(docs)}): {exc}")
                continue
            print(f"  ✓ {path.name} (doc {i}/{len(docs)}): {intent.action} on {intent.stack}")
    if errors:
        print(f"❌ {errors} errors")
        return 1
    print(f"✅ All {len(files)} intent files are valid!")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
