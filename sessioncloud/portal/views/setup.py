"""The end-user setup page (docs/linphone.md): what to install, and the code that sets it up.

No login: the token in the address is the key. Opening the page uses nothing up (mail scanners
open every link in an e-mail); only the app's own redemption does.
"""

from __future__ import annotations

import base64

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from sessioncloud.codes.formats import is_valid_token
from sessioncloud.codes.qr import render_svg
from sessioncloud.portal.contrast import WHITE, contrast_ratio
from sessioncloud.providers.models import SetupToken, hash_token, served
from sessioncloud.providers.setup import phone_app_info, setup_codes
from sessioncloud.providers.tokens import token_status

# WCAG AA for the button's text on the theme colour.
READABLE_RATIO = 4.5
DARK_INK = "#101828"


@never_cache
@require_GET
def setup_page(request: HttpRequest, token: str) -> HttpResponse:
    found = _pending_token(token)
    if found is None:
        response = render(request, "portal/setup_invalid.html", status=404)
    else:
        response = render(request, "portal/setup.html", _context(found, token))
    # The token is in this page's address: no link followed from it may pass the address on.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _pending_token(plain: str) -> SetupToken | None:
    if not is_valid_token(plain):
        return None
    token = (
        SetupToken.objects.select_related("app__organization", "app__logo", "end_user")
        .defer("app__logo__content")
        .filter(token_hash=hash_token(plain))
        .first()
    )
    if token is None or not served(token.app) or token_status(token) != "pending":
        return None
    return token


def _context(token: SetupToken, plain: str) -> dict:
    app = token.app
    codes = setup_codes(app, plain)
    svg = render_svg(codes.qr)
    return {
        "app": app,
        "end_user": token.end_user,
        "token": token,
        "phone_app": phone_app_info(app),
        "codes": codes,
        "qr": "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii"),
        # Same origin as the page (the content policy allows no other), immutable by its hash.
        "logo": reverse("logo", args=[app.logo.filename]) if app.logo else None,
        "theme": app.theme_color.upper(),
        "theme_ink": WHITE if contrast_ratio(app.theme_color, WHITE) >= READABLE_RATIO else DARK_INK,
    }
