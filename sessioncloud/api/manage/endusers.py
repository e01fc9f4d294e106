"""End users of an App: list, create or replace, read, delete, and their codes."""

from __future__ import annotations

from typing import Literal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from ninja import Query, Status

from sessioncloud.accounts import tenancy
from sessioncloud.api.auth import ApiRequest
from sessioncloud.api.errors import ApiError
from sessioncloud.api.manage import router
from sessioncloud.api.manage.common import app_for, audit, end_user_for, invalid, page_bounds
from sessioncloud.api.schemas import CodeOut, EndUserIn, EndUserOut, ErrorOut
from sessioncloud.codes.formats import CodeError
from sessioncloud.codes.qr import render_png, render_svg
from sessioncloud.providers.endusers import (
    EXTERNAL_ID_MESSAGE,
    enduser_audit_view,
    enduser_json,
    external_code,
    local_code,
    model_field_errors,
    replace_from_body,
    valid_external_id,
)
from sessioncloud.providers.models import EndUser

ERRORS = {401: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


@router.get("/apps/{provider_id}/endusers", response={200: list[EndUserOut], **ERRORS})
def list_end_users(request: ApiRequest, provider_id: str, limit: int = 100, offset: int = 0) -> list[dict]:
    page = page_bounds(limit, offset)
    app = app_for(request, provider_id)
    users = tenancy.end_users_of(app)[page]
    return [enduser_json(user) for user in users]


@router.put(
    "/apps/{provider_id}/endusers/{external_id}", response={200: EndUserOut, 201: EndUserOut, **ERRORS}
)
def put_end_user(request: ApiRequest, provider_id: str, external_id: str, payload: EndUserIn) -> HttpResponse:
    app = app_for(request, provider_id)
    if not valid_external_id(external_id):
        raise invalid({"externalId": EXTERNAL_ID_MESSAGE})
    user = tenancy.end_users_of(app).filter(external_id=external_id).first()
    created = user is None
    user = user or EndUser(app=app, external_id=external_id)
    before = None if created else enduser_audit_view(user)
    with transaction.atomic():  # the change and its audit entry, or neither (even on a crash)
        save_end_user(user, payload.model_dump(exclude_unset=True))
        audit(
            request,
            "enduser.create" if created else "enduser.replace",
            user,
            before,
            enduser_audit_view(user),
        )
    return Status(201 if created else 200, enduser_json(user))


def save_end_user(user: EndUser, body: dict) -> None:
    errors = replace_from_body(user, body)
    try:
        user.full_clean(validate_constraints=False)
    except ValidationError as error:
        errors = {**model_field_errors(error), **errors}
    if errors:
        raise invalid(errors)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise ApiError(409, "conflict", "This end user was created at the same moment. Try again.") from None


@router.get("/apps/{provider_id}/endusers/{external_id}", response={200: EndUserOut, **ERRORS})
def read_end_user(request: ApiRequest, provider_id: str, external_id: str) -> dict:
    return enduser_json(end_user_for(request, provider_id, external_id))


@router.delete("/apps/{provider_id}/endusers/{external_id}", response={204: None, **ERRORS})
def delete_end_user(request: ApiRequest, provider_id: str, external_id: str) -> HttpResponse:
    user = end_user_for(request, provider_id, external_id)
    before = enduser_audit_view(user)
    with transaction.atomic():
        audit(request, "enduser.delete", user, before, None)
        user.delete()
    return HttpResponse(status=204)


@router.get(
    "/apps/{provider_id}/endusers/{external_id}/code",
    response={200: CodeOut, **ERRORS},
    # An int key, like ninja's own: "200" would be a second, duplicate 200 entry in the document.
    openapi_extra={
        "responses": {
            200: {
                "content": {
                    t: {"schema": {"type": "string", "format": "binary"}}
                    for t in ("image/png", "image/svg+xml")
                }
            }
        }
    },
)
def end_user_code(
    request: ApiRequest,
    provider_id: str,
    external_id: str,
    format: Query[Literal["local", "external"]] = "local",  # the documented name
    image: Query[Literal["png", "svg"] | None] = None,
) -> HttpResponse | dict:
    user = end_user_for(request, provider_id, external_id)
    try:
        code = local_code(user) if format == "local" else external_code(user)
    except CodeError as error:
        raise ApiError(
            422,
            "code_unavailable",
            f"No {format} code for this end user: {error}.",
            fields={"format": str(error)},
        ) from None
    if image is None:
        return {"format": format, "code": code}
    body, content_type = (
        (render_png(code), "image/png") if image == "png" else (render_svg(code), "image/svg+xml")
    )
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"  # the image carries credentials
    return response
