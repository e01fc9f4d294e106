"""The JSON API under /api/v1/: the phone API and the provider management API."""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from sessioncloud import __version__
from sessioncloud.api.errors import ApiError, api_error_response, error_response, invalid_request

log = logging.getLogger("sessioncloud.api")

INVALID_JSON_RESPONSE = {
    "description": "The request body is not valid JSON",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
}


class SessionCloudAPI(NinjaAPI):
    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        """The generated document, plus the 400 that every JSON body can get (on_http_error)."""
        schema = super().get_openapi_schema(*args, **kwargs)
        for operations in schema["paths"].values():
            for operation in operations.values():
                if "application/json" in operation.get("requestBody", {}).get("content", {}):
                    operation["responses"].setdefault(400, INVALID_JSON_RESPONSE)
        return schema


api = SessionCloudAPI(
    title="SessionCloud API",
    version=__version__,
    description="Phone API (configuration, provisioning, setup tokens, codes) and the provider "
    'management API. Every error is {"error": {"code", "message"}}.',
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return api_error_response(invalid_request(exc.errors))


@api.exception_handler(ApiError)
def on_api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return api_error_response(exc)


@api.exception_handler(AuthenticationError)
def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(
        401,
        "unauthorized",
        "A valid API key is required (Authorization: Bearer <key>).",
        headers={"WWW-Authenticate": "Bearer"},
    )


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400:
        return error_response(400, "invalid_json", "The request body is not valid JSON.")
    return error_response(exc.status_code, "error", str(exc))


@api.exception_handler(Http404)
def on_404(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(404, "not_found", "There is nothing at this address.")


@api.exception_handler(DatabaseError)
def on_database_error(request: HttpRequest, exc: DatabaseError) -> HttpResponse:
    log.error("database unavailable", extra={"error": type(exc).__name__})
    return error_response(
        503, "unavailable", "The service is busy. Please try again in a moment.", headers={"Retry-After": "5"}
    )


def register_routers() -> None:
    from sessioncloud.api import manage, phone

    api.add_router("", phone.router)
    api.add_router("/manage", manage.router)


register_routers()
