"""The event vocabulary: what happens during a run, as small typed events handed to sinks
(the log, the progress view, the event stream, notifications). Every layer speaks it;
it imports nothing of chatops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from msgspec import Struct, field

RUN_QUEUED = "run_queued"
RUN_AWAITING = "run_awaiting_approval"  # held until its approvers say yes
RUN_STARTED = "run_started"
WAITING = "waiting_for_lock"
STEP_STARTED = "step_started"
COMMAND_STARTED = "command_started"
OUTPUT = "output"
COMMAND_FINISHED = "command_finished"
GATE_STARTED = "gate_started"
GATE_FINISHED = "gate_finished"
ROLLBACK_STARTED = "rollback_started"
NOTE = "note"
CANARY_WAITING = "canary_waiting"  # a canary step holds until a person promotes it
RUN_FINISHED = "run_finished"


class Event(Struct, frozen=True):
    kind: str
    run_id: str
    intent: str
    data: dict[str, Any] = field(default_factory=dict)


Sink = Callable[[Event], None]
