"""What no request may carry, refused before any view runs: NUL characters and huge numbers.

No text with a NUL can be stored in PostgreSQL (nor does any client have a reason to send one),
and an integer beyond 64 bits fits no column, so neither may reach a query: the database would
answer with an error, and the caller with a 5xx. One check here covers every path, query
string, header and JSON body, whichever view the request is for:

- in the path, NUL names nothing: 404, as an unknown id;
- in the query string or a JSON body: the API answers 422 naming each field; other pages 400
  (the phone endpoints the event-loop front answers itself check their bodies with
  `body_problems`, the same way);
- in a header: 400.
Portal forms check their own fields (Django's form fields refuse NUL with a form error).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest

from sessioncloud.api.errors import API_PREFIX, invalid_fields_response

NUL = "\x00"
INT64 = range(-(2**63), 2**63)
NUL_MESSAGE = "Must not contain a NUL character."
RANGE_MESSAGE = "This number is out of range."
# Cheap tests on the raw body before any parsing: a NUL escape, or a run of digits too long for
# a 64-bit integer. Only a body that has one is parsed here, to find the fields.
_NUL_ESCAPE = re.compile(rb"\\u0000")
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


class RefuseBadInputMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if NUL in request.path_info:
            raise Http404("No such page.")
        if any(NUL in value for name, value in request.META.items() if name.startswith("HTTP_")):
            return HttpResponseBadRequest("A request header holds a NUL character.")
        problems = dict(query_problems(request))
        if request.path.startswith(API_PREFIX):
            problems.update(json_problems(request))
        if not problems:
            return self.get_response(request)
        if request.path.startswith(API_PREFIX):
            return invalid_fields_response(problems)
        return HttpResponseBadRequest("The address holds a NUL character.")


def query_problems(request: HttpRequest) -> Iterator[tuple[str, str]]:
    for name, values in request.GET.lists():
        if NUL in name or any(NUL in value for value in values):
            yield name.replace(NUL, "\\u0000"), NUL_MESSAGE


def json_problems(request: HttpRequest) -> Iterator[tuple[str, str]]:
    if request.method in ("POST", "PUT", "PATCH") and request.content_type == "application/json":
        yield from body_problems(request.body).items()


def body_problems(body: bytes) -> dict[str, str]:
    """Each field of a JSON body that holds a NUL or an integer beyond 64 bits, with why.

    Also used by the event-loop front (serving/front.py), which answers phones without Django.
    """
    if not (_NUL_ESCAPE.search(body) or _LONG_DIGITS.search(body)):
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        return {}  # not JSON: the API answers that itself (400 invalid_json)
    return dict(value_problems(data, ""))


def value_problems(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Each NUL-holding string and out-of-range integer, by its path (`sip.domain`, `items[2]`)."""
    if isinstance(value, str):
        if NUL in value:
            yield path or "body", NUL_MESSAGE
    elif isinstance(value, int) and not isinstance(value, bool):
        if value not in INT64:
            yield path or "body", RANGE_MESSAGE
    elif isinstance(value, dict):
        for key, item in value.items():
            name = key.replace(NUL, "\\u0000")
            if NUL in key:
                yield f"{path}.{name}" if path else name, NUL_MESSAGE
            yield from value_problems(item, f"{path}.{name}" if path else name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from value_problems(item, f"{path}[{index}]")
