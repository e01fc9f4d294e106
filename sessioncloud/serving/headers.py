"""What Django would add to a phone API answer, so the front can answer without Django.

The headers Django's middleware adds (security headers, X-Frame-Options, the Content-Security-
Policy...) are learnt by asking the middleware itself, once per kind of request (plain or
secure): a canned answer goes through the configured chain, and whatever headers come back are
the ones to send. When the middleware answers something else (a redirect to HTTPS) or adds
per-request state (cookies, Vary), Django must answer every such request itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port, validate_host
from django.utils.module_loading import import_string

log = logging.getLogger("sessioncloud.api")

METRICS_MIDDLEWARE = "sessioncloud.api.metrics.MetricsMiddleware"
# Headers the phone API sets itself; every other header of an answer comes from the middleware.
_OWN_HEADERS = {"content-type", "content-length", "etag", "cache-control"}
# Per-request state: an answer carrying these cannot be replayed to another request.
_PER_REQUEST_HEADERS = {"set-cookie", "vary"}


def middleware_headers(environ: dict[str, Any]) -> list[tuple[str, str]] | None:
    """The headers the middleware chain adds to a phone API answer, or None (see above)."""

    def view(request: HttpRequest) -> HttpResponse:
        response = HttpResponse(b"{}", content_type="application/json")
        response["ETag"] = '"probe"'
        response["Cache-Control"] = "no-cache"
        canned.append(response)
        return response

    canned: list[HttpResponse] = []
    handler: Callable[[HttpRequest], HttpResponse] = view
    for path in reversed(settings.MIDDLEWARE):
        if path == METRICS_MIDDLEWARE:  # the front counts its own requests
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


class MiddlewareHeaders:
    """middleware_headers, learnt on the first request of each kind (plain, secure)."""

    def __init__(self) -> None:
        self.proxy_ssl = settings.SECURE_PROXY_SSL_HEADER or None
        self.learnt: dict[bool, list[tuple[str, str]] | None] = {}

    def for_request(self, scope: Any, headers: Any) -> list[tuple[str, str]] | None:
        secure = self.is_secure(scope, headers)
        if secure not in self.learnt:
            from sessioncloud.serving.bridge import wsgi_environ

            try:
                self.learnt[secure] = middleware_headers(wsgi_environ(scope, b""))
            except Exception:  # noqa: BLE001 - whatever it was, Django answers these requests itself
                log.warning("front: the middleware could not be asked", exc_info=True)
                return None
        return self.learnt[secure]

    def is_secure(self, scope: Any, headers: Any) -> bool:
        if self.proxy_ssl:
            name, value = self.proxy_ssl
            forwarded = headers.get(name.removeprefix("HTTP_").lower().replace("_", "-"))
            if forwarded is not None:
                return bool(forwarded.split(",", 1)[0].strip() == value)
        return bool(scope.scheme == "https")


# Host headers whose verdict a worker remembers. Real traffic names a handful; a flood of made-up
# ones only empties the record now and then, each then checked as Django would.
MAX_HOSTS_REMEMBERED = 64


class _HostRule:
    """ALLOWED_HOSTS as the front reads it on every request: read from settings once, and each
    Host header's verdict remembered (Django's check costs more than answering a config)."""

    def __init__(self) -> None:
        self.allowed = list(settings.ALLOWED_HOSTS)
        self.any_host = "*" in self.allowed
        self.forwarded = bool(settings.USE_X_FORWARDED_HOST)
        self.verdicts: dict[str, bool] = {}

    def allows(self, host: str) -> bool:
        verdict = self.verdicts.get(host)
        if verdict is None:
            domain, _ = split_domain_port(host)
            verdict = bool(domain) and validate_host(domain, self.allowed)
            if len(self.verdicts) >= MAX_HOSTS_REMEMBERED:
                self.verdicts.clear()
            self.verdicts[host] = verdict
        return verdict


_host_rule: _HostRule | None = None


@receiver(setting_changed)
def _forget_host_rule(setting: str, **kwargs: Any) -> None:
    global _host_rule
    if setting in ("ALLOWED_HOSTS", "USE_X_FORWARDED_HOST"):
        _host_rule = None


def host_allowed(headers: Any) -> bool:
    """Whether Django would accept this Host (ALLOWED_HOSTS), read as HttpRequest.get_host() does."""
    global _host_rule
    rule = _host_rule or _HostRule()
    _host_rule = rule
    if rule.any_host:
        return True
    host = headers.get("host") or ""
    if rule.forwarded:
        host = headers.get("x-forwarded-host") or host
    return rule.allows(host)
