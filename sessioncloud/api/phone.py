"""The phone API: what softphones call."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Router

from sessioncloud.api.clientinfo import client_ip, phone_client
from sessioncloud.api.errors import ApiError
from sessioncloud.api.fastconfig import etag_matches
from sessioncloud.api.schemas import (
    ErrorOut,
    ParsedCodeOut,
    ParseIn,
    ProvisionIn,
    ProvisionOut,
    PublicConfigOut,
    RedeemIn,
    RedeemOut,
)
from sessioncloud.codes.formats import PROVIDER_ID_RE, CodeError, parse_code
from sessioncloud.providers import ratelimit
from sessioncloud.providers.config import config_with_version, get_rendered_config
from sessioncloud.providers.lookup import enabled_app_and_device
from sessioncloud.providers.provision import Outcome, provision_external, provision_from_token
from sessioncloud.providers.tokens import redeem

router = Router(tags=["phone"])

PROVIDER_NOT_FOUND = ApiError(404, "provider_not_found", "No provider is known by that ProviderId.")


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
        del response["Content-Type"]  # no body, nothing to describe
    else:
        response = HttpResponse(rendered.body, content_type="application/json")
    response["ETag"] = rendered.etag
    response["Cache-Control"] = "no-cache"
    return response


def rate_limited(seconds: int) -> ApiError:
    return ApiError(429, "rate_limited", "Too many attempts. Please wait a moment and try again.",
                    headers={"Retry-After": str(max(1, seconds))})


def check_rate(limit: str, identity: str) -> None:
    wait = ratelimit.hit(limit, identity)
    if wait is not None:
        raise rate_limited(wait)


def split_username(username: str, provider_id: str | None) -> tuple[str, str]:
    """Generic users type `username:ProviderId` in one field; split at the last ':'."""
    if provider_id:
        return username, provider_id
    name, sep, suffix = username.rpartition(":")
    if not sep or not name:
        raise ApiError(422, "invalid_request", "Give providerId, or type the username as username:ProviderId.",
                       fields={"providerId": "This field is required."})
    return name, suffix


def outcome_response(outcome: Outcome) -> HttpResponse:
    if outcome.error_code:
        raise ApiError(outcome.status, outcome.error_code, outcome.message)
    return JsonResponse(outcome.body, status=outcome.status)


@router.post(
    "/provision",
    response={200: ProvisionOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 429: ErrorOut,
              502: ErrorOut, 504: ErrorOut},
    summary="Provision a phone through the provider's web service",
    url_name="provision",
)
def provision(request: HttpRequest, payload: ProvisionIn) -> HttpResponse:
    client = phone_client(request, payload.deviceId, payload.app)
    check_rate("provision_ip", client.ip or "unknown")
    username, provider_id = split_username(payload.username, payload.providerId)
    found = enabled_app_and_device(provider_id, client.device_id) if PROVIDER_ID_RE.match(provider_id) else None
    if found is None:
        raise PROVIDER_NOT_FOUND
    app, device = found
    if not app.is_external:
        raise ApiError(409, "external_provisioning_disabled",
                       "This provider does not use login credentials. Scan your QR code or enter your SIP account.")
    check_rate("provision_user", f"{app.pk}:{username}")
    outcome = provision_external(app, username, payload.password, client, reprovision=payload.reprovision,
                                 state=device)
    return outcome_response(outcome)


TOKEN_INVALID = ApiError(404, "token_invalid", "This setup code is not valid. It may have expired or been "
                                               "used already; ask your provider for a new one.")


@router.post(
    "/tokens/redeem",
    response={200: RedeemOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut, 502: ErrorOut, 504: ErrorOut},
    summary="Redeem a one-time setup token: configuration and complete accounts in one call",
    url_name="redeem_token",
)
def redeem_token(request: HttpRequest, payload: RedeemIn) -> HttpResponse:
    client = phone_client(request, payload.deviceId, payload.app)
    check_rate("redeem_ip", client.ip or "unknown")
    token = redeem(payload.token, client.device_id, client.ip, client.user_agent)
    if token is None or not token.app.enabled:
        raise TOKEN_INVALID
    outcome = provision_from_token(token, client)
    if outcome.error_code:
        raise ApiError(outcome.status, outcome.error_code, outcome.message)
    body = {"providerId": token.app.provider_id, **outcome.body, "config": config_with_version(token.app)}
    return JsonResponse(body, status=200)


@router.post(
    "/codes/parse",
    response={200: ParsedCodeOut, 422: ErrorOut, 429: ErrorOut},
    summary="Parse a QR or link code without redeeming it or calling upstream",
    url_name="parse_code",
)
def parse(request: HttpRequest, payload: ParseIn) -> dict:
    check_rate("parse_ip", client_ip(request) or "unknown")
    try:
        return parse_code(payload.code).to_json()
    except CodeError as error:
        raise ApiError(422, "invalid_code", f"This code cannot be read: {error}.",
                       fields={"code": str(error)}) from None
