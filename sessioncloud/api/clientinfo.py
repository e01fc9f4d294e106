"""Who is calling: the client address (behind trusted proxies) and what the phone says it is."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

from sessioncloud.api.schemas import PhoneAppInfo
from sessioncloud.providers.provision import Client


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or the address the configured number of trusted proxies saw."""
    address = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_COUNT
    if hops:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def phone_client(request: HttpRequest, device_id: str, app: PhoneAppInfo | None) -> Client:
    return Client(
        device_id=device_id,
        platform=(app.platform or "") if app else "",
        version=(app.version or "") if app else "",
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", "")[:300],
    )
