"""Prometheus metrics of one service instance (its own registry: no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
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
        self.running = Gauge("chatops_runs_in_progress", "Runs executing now",
                             registry=self.registry)
        self.drift = Gauge("chatops_drift", "Drift found by the last drift pass, by kind",
                           ["kind"], registry=self.registry)

    def drifted(self, kinds: list[str], every: tuple[str, ...]) -> None:
        """The last drift pass: a count for every kind (0 included, so alerts clear)."""
        for kind in every:
            self.drift.labels(kind=kind).set(kinds.count(kind))
