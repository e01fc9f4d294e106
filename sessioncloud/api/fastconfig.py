"""The phone config answer straight from the cache, in front of Django (WSGI).

`GET /api/v1/providers/{id}/config` is what every phone calls on every start. Once rendered, its
answer is bytes in the shared cache (providers/config.py), so serving it needs one cache read
and nothing of Django's request cycle: no request object, middleware, URL resolver or database.
This wrapper answers exactly that case, with the same status, headers and body as the Django
view (tests/api/test_config_fast_path.py compares them), and records the same metrics; the
headers the middleware adds are learnt from the middleware itself. Anything else, including a
config that is not cached yet, goes to Django unchanged.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port, validate_host
from django.utils.module_loading import import_string

from sessioncloud.api.errors import error_body
from sessioncloud.api.metrics import LATENCY, REQUESTS
from sessioncloud.providers.config import MISSING, RenderedConfig, cached_config, cached_version

log = logging.getLogger("sessioncloud.api")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

CONFIG_PATH = re.compile(r"\A/api/v1/providers/([A-Za-z][A-Za-z0-9]{2,31})/config\Z")
ENDPOINT = "api:provider_config"
METRICS_MIDDLEWARE = "sessioncloud.api.metrics.MetricsMiddleware"


def etag_matches(header: str, etag: str) -> bool:
    if not header:
        return False
    candidates = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return etag in candidates or "*" in candidates


# Headers the view sets itself; every other header of its answer comes from the middleware.
_OWN_HEADERS = {"content-type", "content-length", "etag", "cache-control"}
# Per-request state: an answer carrying these cannot be replayed to another request.
_PER_REQUEST_HEADERS = {"set-cookie", "vary"}


def middleware_headers(environ: dict[str, Any]) -> list[tuple[str, str]] | None:
    """What Django's middleware adds to this endpoint's answer, learnt by asking it.

    A canned answer of the view goes through the configured middleware chain (all of it but
    the metrics, which the fast path records itself). The headers it comes back with (security
    headers, X-Frame-Options, Content-Security-Policy...) are the ones to send. None when the
    middleware answers something else (a redirect to HTTPS...) or adds per-request state: then
    Django must answer every such request itself.
    """
    def view(request: HttpRequest) -> HttpResponse:
        response = HttpResponse(b"{}", content_type="application/json")
        response["ETag"] = '"probe"'
        response["Cache-Control"] = "no-cache"
        canned.append(response)
        return response

    canned: list[HttpResponse] = []
    handler: Callable[[HttpRequest], HttpResponse] = view
    for path in reversed(settings.MIDDLEWARE):
        if path == METRICS_MIDDLEWARE:
            continue
        try:
            handler = import_string(path)(handler)
        except MiddlewareNotUsed:
            continue
    response = handler(WSGIRequest(dict(environ)))
    if not canned or response is not canned[0] or response.status_code != 200:
        return None
    names = {name.lower() for name in response.headers}
    if names & _PER_REQUEST_HEADERS or response.cookies:  # Django keeps cookies out of .headers
        return None
    return [(name, value) for name, value in response.headers.items() if name.lower() not in _OWN_HEADERS]


class ConfigFastPath:
    """WSGI middleware: answers cached phone configs itself, passes everything else on."""

    def __init__(self, django_app: WSGIApp):
        self.django_app = django_app
        self.allowed_hosts = list(settings.ALLOWED_HOSTS)
        self.any_host = "*" in self.allowed_hosts
        self.proxy_ssl = settings.SECURE_PROXY_SSL_HEADER or None
        # Learnt on the first request of each kind (plain, secure); None: Django answers those.
        self.extra_headers: dict[bool, list[tuple[str, str]] | None] = {}
        self.not_found = json.dumps(error_body(
            "provider_not_found", "No provider is known by that ProviderId.")).encode("utf-8")
        self.counted = {
            (status, "GET"): REQUESTS.labels(ENDPOINT, "GET", f"{status // 100}xx") for status in (200, 304, 404)
        }
        self.latency = LATENCY.labels(ENDPOINT)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET":
            match = CONFIG_PATH.match(environ.get("PATH_INFO", ""))
            if match and self.host_allowed(environ):
                started = time.perf_counter()
                extra = self.headers_for(environ)
                answer = self.answer(match.group(1), environ, extra) if extra is not None else None
                if answer is not None:
                    status, headers, body = answer
                    start_response(_STATUS_LINES[status], headers)
                    self.counted[(status, "GET")].inc()
                    self.latency.observe(time.perf_counter() - started)
                    return [body]
        return self.django_app(environ, start_response)

    def headers_for(self, environ: dict[str, Any]) -> list[tuple[str, str]] | None:
        secure = self.is_secure(environ)
        if secure not in self.extra_headers:
            try:
                self.extra_headers[secure] = middleware_headers(environ)
            except Exception:  # noqa: BLE001 - whatever it was, Django answers this request itself
                log.warning("config fast path: the middleware could not be asked", exc_info=True)
                return None
        return self.extra_headers[secure]

    def answer(self, provider_id: str, environ: dict[str, Any],
               extra: list[tuple[str, str]]) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """The cached answer, or None to let Django answer (not cached yet, cache down)."""
        if_none_match = environ.get("HTTP_IF_NONE_MATCH", "")
        if if_none_match:
            # A revalidation: the version alone decides, read without the body.
            version = cached_version(provider_id)
            if version is not None and version != MISSING and etag_matches(if_none_match, f'"{version}"'):
                return 304, self.not_modified(f'"{version}"', extra), b""
        found = cached_config(provider_id)
        if found is None:
            return None
        if found == MISSING:
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(self.not_found))), *extra]
            return 404, headers, self.not_found
        assert isinstance(found, RenderedConfig)
        if etag_matches(if_none_match, found.etag):
            return 304, self.not_modified(found.etag, extra), b""
        headers = [("Content-Type", "application/json"), ("ETag", found.etag), ("Cache-Control", "no-cache"),
                   ("Content-Length", str(len(found.body))), *extra]
        return 200, headers, found.body

    @staticmethod
    def not_modified(etag: str, extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
        # Content-Length: 0 as Django's CommonMiddleware sets it on the view's 304.
        return [("ETag", etag), ("Cache-Control", "no-cache"), ("Content-Length", "0"), *extra]

    def host_allowed(self, environ: dict[str, Any]) -> bool:
        if self.any_host:
            return True
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
        if settings.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in environ:
            host = environ["HTTP_X_FORWARDED_HOST"]  # as HttpRequest.get_host() reads it
        domain, _ = split_domain_port(host)
        return bool(domain) and validate_host(domain, self.allowed_hosts)

    def is_secure(self, environ: dict[str, Any]) -> bool:
        if self.proxy_ssl:
            name, value = self.proxy_ssl
            forwarded = environ.get(name)
            if forwarded is not None:
                return forwarded.split(",", 1)[0].strip() == value
        return environ.get("wsgi.url_scheme") == "https"


_STATUS_LINES = {200: "200 OK", 304: "304 Not Modified", 404: "404 Not Found"}
