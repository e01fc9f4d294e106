"""Apps: list, create, read, partial update, delete, logo upload."""

from __future__ import annotations

from typing import Literal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from ninja import Query, Status

from sessioncloud.accounts import tenancy
from sessioncloud.api.auth import ApiRequest, caller_of
from sessioncloud.api.errors import ApiError
from sessioncloud.api.manage import router
from sessioncloud.api.manage.common import app_for, audit, invalid, save_validated
from sessioncloud.api.schemas import AppDeletedOut, AppIn, AppOut, ErrorOut
from sessioncloud.providers import deletion
from sessioncloud.providers.appdata import (
    app_json,
    apply_body,
    audit_snapshot,
    field_errors,
    missing_on_create,
)
from sessioncloud.providers.logos import ACCEPTED_CONTENT_TYPES, LogoError, store_logo
from sessioncloud.providers.models import App
from sessioncloud.providers.outbound import check_provisioning_url

ERRORS = {401: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


@router.get("/apps", response={200: list[AppOut], 401: ErrorOut})
def list_apps(request: ApiRequest) -> list[dict]:
    return [app_json(app) for app in tenancy.apps_of(caller_of(request).organization)]


@router.post("/apps", response={201: AppOut, **ERRORS})
def create_app(request: ApiRequest, payload: AppIn) -> Status:
    body = payload.model_dump(exclude_unset=True)
    problems = payload.schema_errors
    for path, message in missing_on_create(body).items():
        problems.setdefault(path, message)
    app = App(organization=caller_of(request).organization)
    _, warnings = checked_changes(app, body, problems)
    with transaction.atomic():  # the change and its audit entry, or neither (even on a crash)
        save_validated(app, field_errors)
        audit(request, "app.create", app, None, audit_snapshot(app))
    return Status(201, {**app_json(app), "warnings": warnings})


@router.get("/apps/{provider_id}", response={200: AppOut, **ERRORS})
def read_app(request: ApiRequest, provider_id: str) -> dict:
    return app_json(app_for(request, provider_id))


@router.patch("/apps/{provider_id}", response={200: AppOut, **ERRORS})
def update_app(request: ApiRequest, provider_id: str, payload: AppIn) -> dict:
    app = app_for(request, provider_id)
    body = payload.model_dump(exclude_unset=True)
    problems = payload.schema_errors
    new_id = body.pop("providerId", None)
    if new_id is not None and new_id.lower() != app.provider_id.lower():
        problems["providerId"] = "Phones in the field hold the ProviderId: only an operator can change it."
    before = audit_snapshot(app)
    changed, warnings = checked_changes(app, body, problems)
    if changed:
        with transaction.atomic():
            save_validated(app, field_errors)
            audit(request, "app.update", app, before, audit_snapshot(app))
    return {**app_json(app), "warnings": warnings}


def checked_changes(app: App, body: dict, problems: dict[str, str]) -> tuple[list[str], list[str]]:
    """Apply the body and check the whole App; with the problems found earlier (the schema's,
    missing fields), every one is answered in a single 422. Returns the changed fields and the
    warnings about a new provisioning URL."""
    changed = apply_body(app, body)
    warnings: list[str] = []
    if "provisioning_url" in changed and app.provisioning_url:
        # Checked as it is saved; the check at call time is the real control.
        try:
            warnings = check_provisioning_url(app.provisioning_url)
        except ValidationError as error:
            problems.setdefault("provisioning.url", error.messages[0])
    try:
        app.full_clean(validate_constraints=False)
    except ValidationError as error:
        for path, message in field_errors(error).items():
            problems.setdefault(path, message)
    if problems:
        raise invalid(problems)
    return changed, warnings


@router.delete("/apps/{provider_id}", response={200: AppDeletedOut, **ERRORS})
def delete_app(request: ApiRequest, provider_id: str) -> dict:
    """Delete the App and everything it holds; its ProviderId stays reserved for this organization."""
    app = app_for(request, provider_id)
    try:
        deleted = deletion.delete_app(app, caller_of(request).actor)
    except deletion.AppBusy as busy:
        raise ApiError(409, "app_busy", str(busy)) from None
    except deletion.AppGone:
        raise ApiError(404, "not_found", "No app with that ProviderId in your organization.") from None
    return {"providerId": app.provider_id, "deleted": deleted.as_json(), "providerIdReserved": True}


@router.put(
    "/apps/{provider_id}/logo",
    response={200: AppOut, **ERRORS, 413: ErrorOut, 415: ErrorOut},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}} for t in sorted(ACCEPTED_CONTENT_TYPES)
            },
        }
    },
)
def upload_logo(
    request: ApiRequest, provider_id: str, variant: Query[Literal["light", "dark"]] = "light"
) -> dict:
    app = app_for(request, provider_id)
    content_type = request.content_type or ""
    if request.headers.get("Content-Length", "0") in ("", "0"):
        raise ApiError(
            422, "invalid_logo", "The logo file is empty.", fields={"body": "The logo file is empty."}
        )
    if content_type not in ACCEPTED_CONTENT_TYPES:
        raise ApiError(415, "unsupported_media_type", "Send the logo as image/png, image/jpeg or image/webp.")
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > settings.LOGO_MAX_BYTES:
        raise ApiError(413, "payload_too_large", "The logo is larger than 1 MB.")
    try:
        logo = store_logo(request.body)
    except LogoError as error:
        raise ApiError(422, "invalid_logo", str(error), fields={"body": str(error)}) from None
    before = audit_snapshot(app)
    field = "logo" if variant == "light" else "logo_dark"
    setattr(app, field, logo)
    with transaction.atomic():
        app.save(update_fields=[field, "updated"])
        audit(request, f"app.logo.{variant}", app, before, audit_snapshot(app))
    return app_json(app)
