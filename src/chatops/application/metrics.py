"""What the use cases count: Prometheus metrics of one service instance (its own
registry: no globals), or nothing at all in a process that exports none (the CLI's),
which then loads no Prometheus client."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry


class Counts:
    """The counts the run queue and the drift pass keep; this one keeps none."""

    def queued(self, change: int) -> None:
        """Runs accepted and waiting for their stack: +1 or -1."""

    def running(self, change: int) -> None:
        """Runs executing now: +1 or -1."""

    def finished(self, intent: str, outcome: str, duration: float | None) -> None:
        """A run of ``intent`` ended as ``outcome`` after ``duration`` seconds."""

    def drifted(self, kinds: list[str], every: tuple[str, ...]) -> None:
        """The last drift pass found ``kinds`` (one entry a drift)."""


class Metrics(Counts):
    """The service's counts, exported on ``/metrics`` from ``registry``."""

    def __init__(self) -> None:
        from prometheus_client import (  # noqa: PLC0415 - only the service exports them
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
        )

        self.registry: CollectorRegistry = CollectorRegistry(auto_describe=True)
        self.runs = Counter("chatops_runs_total", "Runs by intent and outcome",
                            ["intent", "outcome"], registry=self.registry)
        self.duration = Histogram(
            "chatops_run_duration_seconds", "Run duration by intent", ["intent"],
            buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600), registry=self.registry)
        self.rejected = Counter("chatops_rejected_requests_total",
                                "Requests refused, by reason", ["reason"],
                                registry=self.registry)
        self.queue = Gauge("chatops_queue_depth", "Runs accepted and waiting for their stack",
                           registry=self.registry)
        self.in_progress = Gauge("chatops_runs_in_progress", "Runs executing now",
                                 registry=self.registry)
        self.drift = Gauge("chatops_drift", "Drift found by the last drift pass, by kind",
                           ["kind"], registry=self.registry)

    def queued(self, change: int) -> None:
        self.queue.inc(change)

    def running(self, change: int) -> None:
        self.in_progress.inc(change)

    def finished(self, intent: str, outcome: str, duration: float | None) -> None:
        self.runs.labels(intent, outcome).inc()
        if duration is not None:
            self.duration.labels(intent).observe(duration)

    def drifted(self, kinds: list[str], every: tuple[str, ...]) -> None:
        """A count for every kind (0 included, so alerts clear)."""
        for kind in every:
            self.drift.labels(kind=kind).set(kinds.count(kind))
