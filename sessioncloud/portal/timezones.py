"""Times in the portal are shown in the viewer's own time zone.

A small script (static/portal/portal.js) stores the browser's zone name in a cookie; every
later page renders times in it. Without the script, or with a zone this machine does not know,
times stay in UTC; every page names the zone it shows.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from functools import cache

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

COOKIE = "tz"


@cache
def known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def browser_zone(request: HttpRequest) -> zoneinfo.ZoneInfo | None:
    """The zone the browser said it is in; None when it said nothing usable."""
    name = request.COOKIES.get(COOKIE, "")
    return zoneinfo.ZoneInfo(name) if name in known_zones() else None


class BrowserTimezoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = browser_zone(request)
        if zone is None:
            return self.get_response(request)
        with timezone.override(zone):
            return self.get_response(request)
