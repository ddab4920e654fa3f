"""What ran before a change (and after a success): containers, image IDs, replica counts."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

from chatops.engine.base import ContainerState, Engine
from chatops.runner.project import ComposeProject


def _service_entry(containers: list[ContainerState], wanted: str) -> dict[str, Any]:
    """``image_ref`` is what ran (the containers' own reference, the most common one);
    ``wanted_ref`` what the compose file asked for when the snapshot was taken."""
    running = [c for c in containers if c.running]
    ids = Counter(c.image_id for c in (running or containers))
    refs = Counter(c.image_ref for c in (running or containers) if c.image_ref)
    return {
        "image_ref": refs.most_common(1)[0][0] if refs else wanted,
        "wanted_ref": wanted,
        "image_id": ids.most_common(1)[0][0] if ids else None,
        "replicas": len(running),
        "containers": [
            {"id": c.id[:12], "name": c.name, "image_ref": c.image_ref,
             "image_id": c.image_id, "state": c.state, "health": c.health,
             "restart_count": c.restart_count}
            for c in containers
        ],
    }


async def take_snapshot(
    engine: Engine, project: ComposeProject, services: list[str], stack: str
) -> dict[str, Any]:
    containers = await engine.containers(project.name, services)
    entries = {svc: _service_entry([c for c in containers if c.service == svc],
                                   project.services[svc].image) for svc in services}
    for entry in entries.values():
        # The registry digest the reference had here: a re-pushed tag is drift later.
        ref = str(entry["image_ref"] or "")
        if entry["replicas"] and ref and "@" not in ref:
            entry["digest"] = await engine.image_digest(ref)
    return {
        "stack": stack,
        "project": project.name,
        "compose_file": str(project.file),
        "compose_sha256": project.sha256,
        "services": entries,
    }


#: What a deploy's snapshot hashes of its stack folder (drift reads it later).
FOLDER_FILES = 200
FOLDER_FILE_BYTES = 4 * 1024 * 1024


def folder_hashes(folder: Path) -> dict[str, str]:
    """The sha256 of each file in a stack's folder (at most ``FOLDER_FILES``, none over
    ``FOLDER_FILE_BYTES``), by its path in the folder: what the deploy saw."""
    found: dict[str, str] = {}
    try:
        paths = sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    except OSError:
        return found
    for path in paths[:FOLDER_FILES]:
        try:
            if path.stat().st_size <= FOLDER_FILE_BYTES:
                found[path.relative_to(folder).as_posix()] = \
                    hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            continue
    return found


def current_images(snapshot: dict[str, Any]) -> dict[str, str | None]:
    return {svc: entry.get("image_id") for svc, entry in snapshot["services"].items()}
