"""The use cases, one object for every surface: run an intent, deploy a pushed commit,
orchestrate a graph, go back, operate traffic, fire a schedule.

Each use case lives in a module of its own (``runs``, ``pushes``, ``polling``,
``reconcile``, ``graphs``, ``operations``, ``previews``, over ``recording``); ``Deploys`` is all of
them. Each makes every decision first (``decisions``), changes things last, and records
its decision in the audit trail itself.
"""

from __future__ import annotations

from chatops.application.asks import Orchestration, Planned, Push, RunAsk, Started
from chatops.application.graphs import Graphs
from chatops.application.operations import BlueGreenTarget, Operations, blue_green_target
from chatops.application.previews import Previewing
from chatops.application.reconcile import Reconciling


class Deploys(Reconciling, Graphs, Operations, Previewing):
    """Every use case, over one context, audit trail and event stream."""


__all__ = ["BlueGreenTarget", "Deploys", "Orchestration", "Planned", "Push", "RunAsk",
           "Started", "blue_green_target"]
