"""The phone API: what softphones call."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Router

from sessioncloud.api.errors import ApiError
from sessioncloud.api.schemas import ErrorOut, PublicConfigOut
from sessioncloud.providers.config import get_rendered_config
from sessioncloud.providers.validators import PROVIDER_ID_RE

router = Router(tags=["phone"])

PROVIDER_NOT_FOUND = ApiError(404, "provider_not_found", "No provider is known by that ProviderId.")


def etag_matches(header: str, etag: str) -> bool:
    if not header:
        return False
    candidates = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return etag in candidates or "*" in candidates


@router.get(
    "/providers/{provider_id}/config",
    response={200: PublicConfigOut, 304: None, 404: ErrorOut},
    summary="Public configuration of a provider's softphone",
    url_name="provider_config",
)
def provider_config(request: HttpRequest, provider_id: str) -> HttpResponse:
    rendered = get_rendered_config(provider_id) if PROVIDER_ID_RE.match(provider_id) else None
    if rendered is None:
        raise PROVIDER_NOT_FOUND
    if etag_matches(request.headers.get("If-None-Match", ""), rendered.etag):
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(rendered.body, content_type="application/json")
    response["ETag"] = rendered.etag
    response["Cache-Control"] = "no-cache"
    return response
