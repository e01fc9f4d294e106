"""The Linphone remote provisioning addresses as Django views (the answers: providers/linphone.py).

Plain views rather than API operations: Linphone fetches them with a bare GET and reads XML.
They call the phone API's functions, as the event-loop front does for real phones.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from sessioncloud.api import phone
from sessioncloud.api.clientinfo import request_client_ip


@require_GET
def enduser_config(request: HttpRequest, token: str) -> HttpResponse:
    return phone.through_django(
        phone.linphone_enduser_answer,
        token,
        request_client_ip(request),
        request.headers.get("User-Agent", ""),
        phone.asks_for_html(request.headers.get("Accept", "")),
    )


@require_GET
def app_defaults(request: HttpRequest, provider_id: str) -> HttpResponse:
    return phone.through_django(phone.linphone_app_answer, provider_id)
