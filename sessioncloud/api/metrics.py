"""/metrics and the middleware that counts Django's requests (the registry is lib/metrics.py)."""

from __future__ import annotations

import hmac
import ipaddress
import time
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from sessioncloud.lib.metrics import REGISTRY, REQUEST_STATS


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
        REQUEST_STATS.observe(
            endpoint, request.method or "", response.status_code, time.perf_counter() - started
        )
        return response


def metrics_view(request: HttpRequest) -> HttpResponse:
    """The counters, for a scraper that shows SESSIONCLOUD_METRICS_TOKEN (docs/deployment.md).

    Without a token configured, production keeps them to itself, and the zero-config default
    shows them only to a client on this machine that came through no proxy.
    """
    token = settings.METRICS_TOKEN
    if token:
        offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(offered.encode(), token.encode()):
            response = HttpResponse(
                "A metrics token is required (Authorization: Bearer <token>).\n",
                status=401,
                content_type="text/plain",
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    elif settings.PRODUCTION or not _local_and_direct(request):
        raise Http404("No metrics here.")
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


def _local_and_direct(request: HttpRequest) -> bool:
    # A proxy on the same machine connects from loopback too: what it forwards carries XFF.
    address = request.META.get("REMOTE_ADDR", "")
    try:
        loopback = ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
    return loopback and "HTTP_X_FORWARDED_FOR" not in request.META
