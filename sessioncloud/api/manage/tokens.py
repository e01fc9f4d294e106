"""Setup tokens: create for an end user (shown once), list with status, revoke."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpResponse
from ninja import Status

from sessioncloud.accounts import tenancy
from sessioncloud.api.auth import ApiRequest, caller_of
from sessioncloud.api.manage import router
from sessioncloud.api.manage.common import app_for, audit, end_user_for, invalid, token_for
from sessioncloud.api.schemas import ErrorOut, TokenCreatedOut, TokenIn, TokenOut
from sessioncloud.providers import linphone
from sessioncloud.providers.models import SetupToken
from sessioncloud.providers.setup import setup_page_url
from sessioncloud.providers.tokens import TokenRequestError, issue_token, revoke, token_status

ERRORS = {401: ErrorOut, 404: ErrorOut, 422: ErrorOut}


def token_json(token: SetupToken) -> dict:
    return {
        "id": token.pk,
        "externalId": token.end_user.external_id,
        "status": token_status(token),
        "created": token.created.isoformat(),
        "expiresAt": token.expires.isoformat(),
        "maxUses": token.max_uses,
        "uses": token.uses,
        "revokedAt": token.revoked.isoformat() if token.revoked else None,
        "redemptions": [
            {"time": r.redeemed.isoformat(), "deviceId": r.device_id, "ip": r.ip, "userAgent": r.user_agent}
            for r in token.redemptions.all()
        ],
    }


@router.post("/apps/{provider_id}/endusers/{external_id}/tokens", response={201: TokenCreatedOut, **ERRORS})
def create_token(
    request: ApiRequest, provider_id: str, external_id: str, payload: TokenIn | None = None
) -> Status:
    user = end_user_for(request, provider_id, external_id)
    body = payload or TokenIn()
    try:
        with transaction.atomic():  # the token and its audit entry, or neither (even on a crash)
            issued = issue_token(
                user, ttl_hours=body.ttlHours, max_uses=body.maxUses, created_by=caller_of(request).actor
            )
            audit(
                request,
                "token.create",
                issued.token,
                None,
                {
                    "externalId": external_id,
                    "expires": issued.token.expires.isoformat(),
                    "maxUses": issued.token.max_uses,
                },
            )
    except TokenRequestError as error:
        raise invalid({error.field: error.message}) from None
    return Status(
        201,
        {
            "id": issued.token.pk,
            "token": issued.plain,
            "code": issued.code,
            "link": issued.code,
            "expiresAt": issued.token.expires.isoformat(),
            "setupPage": setup_page_url(issued.plain),
            "linphoneUrl": linphone.enduser_url(issued.plain),
            "linphoneLink": linphone.enduser_link(issued.plain),
        },
    )


@router.get("/apps/{provider_id}/tokens", response={200: list[TokenOut], **ERRORS})
def list_tokens(request: ApiRequest, provider_id: str) -> list[dict]:
    app = app_for(request, provider_id)
    return [token_json(token) for token in tenancy.tokens_of(app)[:1000]]


@router.delete("/tokens/{token_id}", response={204: None, **ERRORS})
def revoke_token(request: ApiRequest, token_id: int) -> HttpResponse:
    token = token_for(request, token_id)
    with transaction.atomic():
        revoke(token)
        audit(request, "token.revoke", token, None, {"id": token.pk})
    return HttpResponse(status=204)
