"""/metrics and the middleware that counts Django's requests (the registry is lib/metrics.py)."""

from __future__ import annotations

import time
from typing import Any

from django.http import HttpRequest, HttpResponse
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from sessioncloud.lib.metrics import LATENCY, REGISTRY, REQUESTS


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
