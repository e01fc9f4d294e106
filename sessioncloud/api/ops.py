"""Operational endpoints and immutable media."""

from __future__ import annotations

import re

from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from sessioncloud.api.errors import error_response
from sessioncloud.providers.models import Logo

LOGO_NAME = re.compile(r"^([0-9a-f]{64})\.png$")


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    checks = {"database": _database_ok(), "cache": _cache_ok()}
    status = 200 if all(checks.values()) else 503
    return JsonResponse({"status": "ok" if status == 200 else "unavailable", "checks": checks}, status=status)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        return False


def _cache_ok() -> bool:
    try:
        cache.set("readyz", "1", 5)
        return cache.get("readyz") == "1"
    except Exception:  # any cache client error means "not ready"
        return False


@require_GET
def logo(request: HttpRequest, name: str) -> HttpResponse:
    match = LOGO_NAME.match(name)
    found = (
        Logo.objects.filter(sha256=match.group(1)).values_list("content", flat=True).first()
        if match
        else None
    )
    if found is None:
        return error_response(404, "not_found", "There is no such logo.")
    response = HttpResponse(bytes(found), content_type="image/png")
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    response["X-Content-Type-Options"] = "nosniff"
    return response
