"""Confirmation pages: a destructive action is asked for first, in plain HTML (no script needed).

The page says what will happen; its form posts to the very address that showed it, so a POST
there is the confirmation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from sessioncloud.providers.models import App

ONLY_EDITORS = "Only owners and admins can do this."
ONLY_OWNERS = "Only owners can do this."


@dataclass(frozen=True)
class Confirmation:
    title: str
    consequences: list[str]
    button: str
    cancel_url: str
    hidden: dict[str, str] = field(default_factory=dict)
    # When set, the person types this text (e.g. a ProviderId) to confirm.
    typed: str = ""
    typed_error: str = ""
    # Why this person may not go ahead (the page then only explains).
    refusal: str = ""


def confirmation_page(
    request: HttpRequest,
    confirmation: Confirmation,
    *,
    app: App | None = None,
    page: str = "",
    status: int = 200,
) -> HttpResponse:
    template = "portal/app_confirm.html" if app is not None else "portal/confirm.html"
    return render(request, template, {"confirm": confirmation, "app": app, "page": page}, status=status)
