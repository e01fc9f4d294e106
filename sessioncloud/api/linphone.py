"""The Linphone remote provisioning addresses as Django views (the answers: providers/linphone.py).

Plain views rather than API operations: Linphone fetches them with a bare GET and reads XML.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from sessioncloud.api.clientinfo import client_ip
from sessioncloud.providers import linphone


def respond(answer: linphone.Answer) -> HttpResponse:
    response = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
    for name, value in answer.headers.items():
        response[name] = value
    return response


@require_GET
def enduser_config(request: HttpRequest, token: str) -> HttpResponse:
    user_agent = request.headers.get("User-Agent", "")
    # Linphone sends no Accept header (or */*); browsers navigating ask for HTML first.
    browser = "text/html" in request.headers.get("Accept", "")
    return respond(linphone.serve_enduser(token, client_ip(request), user_agent, browser=browser))


@require_GET
def app_defaults(request: HttpRequest, provider_id: str) -> HttpResponse:
    return respond(linphone.serve_app(provider_id))
