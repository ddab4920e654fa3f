"""``chatops handoff RUN``: what a self-upgrade's helper container runs (it is started by
the old service, never by hand; ``runner/handoff.py``)."""

from __future__ import annotations

import asyncio
import sys

from chatops.cli.config import current_settings
from chatops.engine.docker import DockerEngine
from chatops.runner.handoff import Helper
from chatops.store.handoffs import Handoff
from chatops.store.sqlite import RunStore


def handoff_command(run_id: str) -> int:
    settings = current_settings()
    store = RunStore(settings.paths.db)
    try:
        handoff = store.handoff(run_id)
        if handoff is None or handoff.state != "handing_off":
            state = "none" if handoff is None else handoff.state
            sys.stderr.write(f"error: run {run_id} has no handoff waiting for a helper "
                             f"(its handoff: {state})\n")
            return 2
        return asyncio.run(_carry(store, handoff))
    finally:
        store.close()


async def _carry(store: RunStore, handoff: Handoff) -> int:
    engine = DockerEngine()
    try:
        return await Helper(store, engine, handoff).carry()
    finally:
        await engine.close()
