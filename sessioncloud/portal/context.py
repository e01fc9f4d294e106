"""Template context for every page: the user's organizations and the current one."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from sessioncloud.accounts.tenancy import memberships_of
from sessioncloud.portal.access import current_membership


def portal(request: HttpRequest) -> dict[str, Any]:
    # The zone times are shown in (timezones.py): "Europe/Berlin", or "UTC".
    zone = {"time_zone_label": timezone.get_current_timezone_name()}
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return zone

    def membership() -> Any:
        return getattr(request, "membership", None) or current_membership(request)

    return {
        **zone,
        "portal_membership": SimpleLazyObject(membership),
        "portal_memberships": SimpleLazyObject(lambda: list(memberships_of(user))),
    }
