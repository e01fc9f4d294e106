"""The one error shape of the API: {"error": {"code": ..., "message": ...}} (plus `fields`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from sessioncloud.lib.errorbody import error_body

API_PREFIX = "/api/"


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.headers = headers or {}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    fields: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    response = JsonResponse(error_body(code, message, fields), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def invalid_fields(fields: dict[str, str]) -> ApiError:
    """422 for a request whose fields (by path, e.g. `sip.domain`) are not valid, each with why."""
    names = ", ".join(sorted(fields))
    return ApiError(422, "invalid_request", f"Some fields are not valid: {names}.", fields=fields)


def invalid_fields_response(fields: dict[str, str]) -> JsonResponse:
    return api_error_response(invalid_fields(fields))


def api_error_response(error: ApiError) -> JsonResponse:
    return error_response(error.status, error.code, error.message, fields=error.fields, headers=error.headers)


def json_path(parts: list | tuple) -> str:
    """A location in a body as the error's `fields` names it: `sip.domain`, `helpLinks[0].url`."""
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def field_path(loc: list | tuple) -> str:
    """`sip.domain`, `helpLinks[0].url`: a validation error's location as the body spells it."""
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[2:] if len(parts) > 2 else parts[1:]
    elif parts and parts[0] in ("query", "path", "header"):
        parts = parts[1:]
    return json_path(parts) or "body"


def describe_field_error(error: dict) -> str:
    """A schema (pydantic) error as a sentence."""
    if error.get("type") == "missing":
        return "This field is required."
    if error.get("type") == "extra_forbidden":
        return "This field is not known."
    return str(error.get("msg", "This value is not valid."))


def invalid_request(errors: Iterable[dict]) -> ApiError:
    """One 422 naming every offending field."""
    fields: dict[str, str] = {}
    for error in errors:
        fields.setdefault(field_path(error.get("loc", ())), describe_field_error(error))
    return invalid_fields(fields)


INVALID_JSON = ApiError(400, "invalid_json", "The request body is not valid JSON.")


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, "not_found", f"No such {what}.")


_GENERIC_ERRORS = {
    400: ("bad_request", "The request could not be understood."),
    401: ("unauthorized", "A valid API key is required (Authorization: Bearer <key>)."),
    403: ("forbidden", "This request is not allowed."),
    404: ("not_found", "There is nothing at this address."),
    405: ("method_not_allowed", "This address does not accept that method."),
    413: ("payload_too_large", "The request body is too large."),
    415: ("unsupported_media_type", "This content type is not accepted here."),
}


class ApiErrorShapeMiddleware:
    """Gives every error under /api/ the JSON error shape, whoever produced it (404s, 405s...)."""

    def __init__(self, get_response: Any):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith(API_PREFIX)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            code, message = _GENERIC_ERRORS.get(
                response.status_code, ("error", "The request could not be completed.")
            )
            shaped = error_response(response.status_code, code, message)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    shaped[header] = response[header]
            return shaped
        return response


def json_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith(API_PREFIX) or request.path.startswith("/media/"):
        return error_response(404, "not_found", "There is nothing at this address.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Exception())


def json_500(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return error_response(500, "internal_error", "Something went wrong on our side.")
    from django.views.defaults import server_error

    return server_error(request)
