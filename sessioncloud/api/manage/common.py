"""Helpers every management endpoint shares: tenant lookups that answer 404, saving with audit.

What an API key may reach is its organization's data as `sessioncloud.accounts.tenancy` scopes
it; the lookups here only turn its NotFound into the API's 404 answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from sessioncloud.accounts import tenancy
from sessioncloud.accounts.models import record_audit
from sessioncloud.api.auth import ApiRequest, caller_of
from sessioncloud.api.errors import ApiError, invalid_fields
from sessioncloud.onboarding.models import Job
from sessioncloud.providers.models import App, Device, EndUser, SetupToken

T = TypeVar("T")


def _found(lookup: Callable[[], T], message: str) -> T:
    """What a tenancy lookup found, else a 404 answer saying `message`."""
    try:
        return lookup()
    except tenancy.NotFound:
        raise ApiError(404, "not_found", message) from None


def app_for(request: ApiRequest, provider_id: str) -> App:
    return _found(
        lambda: tenancy.get_app(caller_of(request).organization, provider_id),
        "No app with that ProviderId in your organization.",
    )


def end_user_for(request: ApiRequest, provider_id: str, external_id: str) -> EndUser:
    app = app_for(request, provider_id)
    return _found(lambda: tenancy.get_end_user(app, external_id), "No end user with that id in this app.")


def device_for(app: App, device_id: str) -> Device:
    return _found(lambda: tenancy.get_device(app, device_id), "No device with that id in this app.")


def token_for(request: ApiRequest, token_id: int) -> SetupToken:
    return _found(
        lambda: tenancy.get_token(caller_of(request).organization, token_id),
        "No token with that id in your organization.",
    )


def job_for(request: ApiRequest, job_id: uuid.UUID | str) -> Job:
    return _found(
        lambda: tenancy.get_job(caller_of(request).organization, job_id),
        "No job with that id in your organization.",
    )


def invalid(fields: dict[str, str]) -> ApiError:
    return invalid_fields(fields)


# Paging numbers become LIMIT and OFFSET: checked as soon as they are parsed, so no number the
# database cannot take (an offset of 10^23) gets near a query.
MAX_PAGE = 1000
MAX_OFFSET = 1_000_000_000


def page_bounds(limit: int, offset: int = 0) -> slice:
    """The slice of a listing a request asks for, or a 422 naming each number out of range."""
    problems = {}
    if not 1 <= limit <= MAX_PAGE:
        problems["limit"] = f"Use a limit between 1 and {MAX_PAGE}."
    if not 0 <= offset <= MAX_OFFSET:
        problems["offset"] = f"Use an offset between 0 and {MAX_OFFSET}."
    if problems:
        raise invalid(problems)
    return slice(offset, offset + limit)


def save_validated(obj: Any, to_fields: Any, *, exclude: list[str] | None = None) -> None:
    """full_clean then save; model errors become a 422 naming each field."""
    try:
        obj.full_clean(exclude=exclude, validate_constraints=False)
        with transaction.atomic():
            obj.save()
    except ValidationError as error:
        raise invalid(to_fields(error)) from None
    except IntegrityError:
        # Two requests raced for the same unique name; the loser gets the validation answer.
        raise ApiError(409, "conflict", "That name was taken at the same moment. Try again.") from None


def audit(request: ApiRequest, action: str, obj: Any, before: dict | None, after: dict | None) -> None:
    caller = caller_of(request)
    record_audit(caller.organization, caller.actor, action, obj, before, after)
