"""Prometheus metrics: request counts and latencies per endpoint, upstream call outcomes.

Framework-free, so the provisioning flow, the event-loop front and Django's middleware all
count into the same registry; api/metrics.py serves it at /metrics.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "sessioncloud_http_requests_total", "HTTP requests by endpoint and status class",
    ["endpoint", "method", "status"], registry=REGISTRY,
)
LATENCY = Histogram(
    "sessioncloud_http_request_seconds", "HTTP request latency by endpoint",
    ["endpoint"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20),
)
UPSTREAM = Counter(
    "sessioncloud_upstream_calls_total",
    "Calls to providers' provisioning services by outcome (provider_busy: refused at once, the "
    "App had as many calls waiting as it may; cancelled: the phone went away first)",
    ["outcome"], registry=REGISTRY,
)
CALLS_IN_FLIGHT = Gauge(
    "sessioncloud_upstream_calls_in_flight", "Calls waiting on providers' services in this process",
    registry=REGISTRY, multiprocess_mode="livesum",
)
