"""Prometheus metrics for one app instance (its own registry, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.outbox import Queued

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.updates = Counter(
            "giamngheo_updates_total",
            "Incoming updates by channel and outcome",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.sent = Counter(
            "giamngheo_outbox_sent_total", "Messages sent", ["channel"], registry=self.registry
        )
        self.failed = Counter(
            "giamngheo_outbox_failed_total",
            "Messages given up on (dead letters)",
            ["channel"],
            registry=self.registry,
        )
        self.retried = Counter(
            "giamngheo_outbox_retried_total",
            "Send attempts to be retried (429, 5xx, timeouts)",
            ["channel"],
            registry=self.registry,
        )
        self.queue = Gauge(
            "giamngheo_outbox_queue_length",
            "Messages waiting to be sent",
            registry=self.registry,
        )
        self.latency = Histogram(
            "giamngheo_outbox_send_latency_seconds",
            "From queued to sent",
            ["channel"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
            registry=self.registry,
        )

        # OUTBOX_SENDER=process: the sender process `run` keeps going (bot/sender_child.py).
        self.sender_process_up = Gauge(
            "giamngheo_sender_process_up",
            "1 while the sender process this one started runs (OUTBOX_SENDER=process)",
            registry=self.registry,
        )
        self.sender_process_restarts = Counter(
            "giamngheo_sender_process_restarts_total",
            "Times the sender process ended and was started again",
            registry=self.registry,
        )

    def on_sent(self, row: Queued, latency: float) -> None:
        self.sent.labels(row.channel).inc()
        self.latency.labels(row.channel).observe(latency)

    def on_failed(self, row: Queued, _reason: str) -> None:
        self.failed.labels(row.channel).inc()

    def on_retry(self, row: Queued) -> None:
        self.retried.labels(row.channel).inc()

    def render(self, queue_length: int) -> bytes:
        self.queue.set(queue_length)
        return generate_latest(self.registry)
