"""What the run history remembers so that nothing is done twice: idempotency keys, webhook
deliveries, signed chat requests and pushes (each refused as a replay when seen again)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chatops.store.database import Database, utcnow


class Replays(Database):
    def idempotent_run(self, key_name: str, idem: str) -> tuple[str, str | None] | None:
        """(run id, fingerprint of the request that made it) for this key and
        ``Idempotency-Key``, or None."""
        rows = self._query(
            "SELECT run_id, fingerprint FROM idempotency WHERE key_name=? AND idem=?",
            (key_name, idem))
        return (str(rows[0]["run_id"]), rows[0]["fingerprint"]) if rows else None

    def remember_idempotent(self, key_name: str, idem: str, run_id: str,
                            fingerprint: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO idempotency (key_name, idem, run_id, created_at,"
                       " fingerprint) VALUES (?,?,?,?,?)",
                       (key_name, idem, run_id, utcnow(), fingerprint))

    def first_delivery(self, delivery: str) -> bool:
        """Record a webhook delivery id; False when it was seen before (a replay)."""
        with self._tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO webhook_deliveries VALUES (?, ?)",
                             (delivery, utcnow()))
            return cur.rowcount == 1

    def first_chat_request(self, key: str, window: float) -> bool:
        """Record a signed chat request (an interaction id, a signature) for ``window``
        seconds; False when it was seen within them (a replay). Older ones are dropped:
        their timestamps are refused as stale anyway."""
        cutoff = (datetime.now(UTC) - timedelta(seconds=2 * window)).isoformat(
            timespec="milliseconds")
        with self._tx() as db:
            db.execute("DELETE FROM webhook_deliveries WHERE id >= 'chat:' AND id < 'chat;'"
                       " AND received_at < ?", (cutoff,))
            cur = db.execute("INSERT OR IGNORE INTO webhook_deliveries VALUES (?, ?)",
                             (f"chat:{key}", utcnow()))
            return cur.rowcount == 1

    def push_seen(self, ref: str, before: str, after: str) -> str | None:
        """The delivery id that already brought this push, or None."""
        rows = self._query("SELECT delivery FROM webhook_pushes WHERE ref=? AND before=?"
                           " AND after=?", (ref, before, after))
        return str(rows[0]["delivery"]) if rows else None

    def claim_push(self, ref: str, before: str, after: str, delivery: str) -> bool:
        """Record a processed push by its content; False when it was processed before."""
        with self._tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO webhook_pushes VALUES (?,?,?,?,?)",
                             (ref, before, after, delivery, utcnow()))
            return cur.rowcount == 1
