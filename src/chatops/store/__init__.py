"""The run history: every run, its steps, snapshots, gates and output, in SQLite."""

from chatops.store.records import RunRecord, RunStatus
from chatops.store.sqlite import RunStore

__all__ = ["RunRecord", "RunStatus", "RunStore"]
