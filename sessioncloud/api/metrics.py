"""Prometheus metrics: request counts and latencies per endpoint, upstream call outcomes."""

from __future__ import annotations

import time
from typing import Any

from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

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
    "sessioncloud_upstream_calls_total", "Calls to providers' provisioning services by outcome",
    ["outcome"], registry=REGISTRY,
)


def endpoint_label(request: HttpRequest) -> str:
    # The route pattern, not the path: ProviderIds must not explode the label set.
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.view_name or match.route or "unknown"


class MetricsMiddleware:
    def __init__(self, get_response: Any):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        endpoint = endpoint_label(request)
        REQUESTS.labels(endpoint, request.method, f"{response.status_code // 100}xx").inc()
        LATENCY.labels(endpoint).observe(time.perf_counter() - started)
        return response


def metrics_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
