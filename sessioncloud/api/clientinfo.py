"""Who is calling: the client address, as the configured number of trusted proxies saw it."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(remote_addr: str, forwarded_for: str = "") -> str | None:
    """The peer's address, or the one the configured number of trusted proxies saw (X-Forwarded-For)."""
    address = remote_addr
    hops = settings.TRUSTED_PROXY_COUNT
    if hops:
        forwarded = [part.strip() for part in forwarded_for.split(",") if part.strip()]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def request_client_ip(request: HttpRequest) -> str | None:
    return client_ip(request.META.get("REMOTE_ADDR", ""), request.META.get("HTTP_X_FORWARDED_FOR", ""))
