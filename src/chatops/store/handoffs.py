"""Runs handed from one chatops to the next: a self-upgrade's record, which outlives the
service that started it (strategy ``self-upgrade``, ``chatops/handoff``).

A handoff moves through its states by compare-and-set, each written by one party:
``handing_off`` (the old service, before the helper starts), ``recreated`` (the helper,
with the container Compose made), ``healthy`` (the service in that container, once its
gates pass), then ``upgraded``, ``rolled_back`` or ``rollback_failed`` (the helper), and
``finished`` (whichever service is up, once it has closed the run)."""

from __future__ import annotations

import json
from typing import Any

from msgspec import Struct, field
from msgspec.structs import asdict

from chatops.store.database import Database, utcnow

VERDICTS = ("upgraded", "rolled_back", "rollback_failed")


class Handoff(Struct, frozen=True):
    run_id: str
    intent: str
    project: str
    service: str
    image_ref: str  # what the compose file names, e.g. registry/chatops:1.3
    old_image: str  # the image id the old service ran (the rollback's target)
    new_image: str  # the image id the pull left the ref at
    up: tuple[str, ...]  # the Compose command that recreates the service
    cwd: str  # where it runs (the stack's folder)
    deadline: float  # epoch seconds: the new service reports healthy by then
    gates: list[dict[str, Any]] = field(default_factory=list)  # the intent's own checks,
    # as written (each check's key names its kind)
    state: str = "handing_off"
    reason: str = ""
    container: str = ""  # the container the helper last made for the service

    @property
    def open(self) -> bool:
        return self.state != "finished"


class HandoffRows(Database):
    def hand_off(self, handoff: Handoff) -> None:
        data = {k: v for k, v in asdict(handoff).items()
                if k not in ("state", "reason", "container")}
        with self._tx() as db:
            db.execute("INSERT INTO handoffs VALUES (?,?,?,?,?,?)",
                       (handoff.run_id, json.dumps(data), handoff.state, handoff.reason,
                        handoff.container, utcnow()))

    def handoff(self, run_id: str) -> Handoff | None:
        rows = self._query("SELECT * FROM handoffs WHERE run_id=?", (run_id,))
        return _handoff(rows[0]) if rows else None

    def open_handoffs(self) -> list[Handoff]:
        rows = self._query("SELECT * FROM handoffs WHERE state != 'finished' "
                           "ORDER BY updated_at")
        return [_handoff(r) for r in rows]

    def handing_off(self, run_id: str) -> bool:
        """Is the run in another chatops's hands (so not interrupted, though its
        process is gone)?"""
        found = self.handoff(run_id)
        return found is not None and found.open

    def move_handoff(self, run_id: str, from_states: tuple[str, ...], to_state: str, *,
                     reason: str | None = None, container: str | None = None) -> bool:
        """Move the handoff on if it is in one of ``from_states``; False if it was not."""
        marks = ",".join("?" * len(from_states))
        with self._tx() as db:
            moved = db.execute(
                f"UPDATE handoffs SET state=?, reason=COALESCE(?, reason), "  # noqa: S608
                f"container=COALESCE(?, container), updated_at=? "
                f"WHERE run_id=? AND state IN ({marks})",
                (to_state, reason, container, utcnow(), run_id, *from_states))
            return moved.rowcount == 1


def _handoff(row: Any) -> Handoff:
    data = json.loads(row["data"])
    data["up"] = tuple(data["up"])
    return Handoff(**data, state=row["state"], reason=row["reason"],
                   container=row["container"])
