"""Prometheus metrics shared by every service (each process has its own registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by route.",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
CONSUMED = Counter("consumer_records_total", "Records consumed.", ["consumer", "topic"])
DEAD_LETTERED = Counter("dead_letters_total", "Records sent to a DLQ.", ["consumer", "topic"])
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Unpublished outbox rows.")
OUTBOX_OLDEST_AGE = Gauge("outbox_oldest_age_seconds", "Age of the oldest unpublished row.")
