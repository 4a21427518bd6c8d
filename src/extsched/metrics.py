"""Prometheus metrics (SPEC §9). One registry per process object, no per-schedule labels."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
LAG_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300, 900)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.runs = Counter(
            "extsched_runs_total",
            "Runs by final status (success, error, timeout, skipped, missed) and trigger",
            ["status", "trigger"],
            registry=self.registry,
        )
        self.attempt_duration = Histogram(
            "extsched_attempt_duration_seconds",
            "Duration of one Runner call",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.fire_lag = Histogram(
            "extsched_fire_lag_seconds",
            "Start of a run's first attempt minus its scheduled time",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "extsched_run_queue_depth",
            "Runs due and not started yet (not those queued ahead of their time or backing off)",
            registry=self.registry,
        )
        self.loop_restarts = Counter(
            "extsched_loop_restarts_total",
            "Background loops restarted after ending by an error",
            ["loop"],
            registry=self.registry,
        )
        self.schedules = Gauge(
            "extsched_schedules", "Schedules by state", ["state"], registry=self.registry
        )

        self.gateway_requests = Counter(
            "extsched_gateway_requests_total",
            "Gateway calls by the status answered (the extension's, or 429, 502, 504)",
            ["status"],
            registry=self.registry,
        )
        self.gateway_duration = Histogram(
            "extsched_gateway_duration_seconds",
            "Duration of one gateway call to the Runner",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
