"""End users of an App: list, add, edit, delete; their QR codes, setup links and setup e-mails."""

from __future__ import annotations

import base64
from typing import Any

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from sessioncloud.accounts.tenancy import end_users_of, tokens_of, tokens_with_status
from sessioncloud.codes.formats import CodeError
from sessioncloud.codes.qr import render_png, render_svg
from sessioncloud.onboarding.mailing import mail_server_configured, send_setup_emails
from sessioncloud.portal import auditlog
from sessioncloud.portal.access import (
    PortalRequest,
    app_for_user,
    end_user_for_user,
    org_required,
    page_of,
)
from sessioncloud.portal.forms import EndUserForm, EndUserSearchForm, SetupLinkForm
from sessioncloud.providers import linphone
from sessioncloud.providers.endusers import (
    enduser_audit_view,
    external_code,
    fitting_formats,
    local_code,
)
from sessioncloud.providers.models import App, EndUser
from sessioncloud.providers.setup import setup_page_url
from sessioncloud.providers.tokens import IssuedToken, TokenRequestError, issue_token, token_status
from sessioncloud.provisioning.linphone import linphone_link

FORMAT_NAMES = {"local": "SIP credentials (scloc)", "external": "Provisioning login (scsc)"}
SEARCHED_FIELDS = ("display_name", "external_id", "email", "sip_username", "provisioning_username")
USER_TOKENS_SHOWN = 10


@org_required
def end_users(request: PortalRequest, provider_id: str) -> HttpResponse:
    app = app_for_user(request, provider_id)
    search = EndUserSearchForm(request.GET)
    users = end_users_of(app)
    query = search.cleaned_data["q"].strip() if search.is_valid() else ""
    if query:
        matches = Q()
        for field in SEARCHED_FIELDS:
            matches |= Q(**{f"{field}__icontains": query})
        users = users.filter(matches)
    return render(
        request,
        "portal/endusers.html",
        {
            "app": app,
            "page": "endusers",
            "search": search,
            "query": query,
            "users": page_of(users, request),
            "total": end_users_of(app).count(),
        },
    )


@org_required
def end_user_new(request: PortalRequest, provider_id: str) -> HttpResponse:
    app = app_for_user(request, provider_id)
    form = EndUserForm(request.POST if request.method == "POST" else None, app=app)
    if form.is_bound and form.is_valid():
        user = EndUser(app=app, external_id=form.cleaned_data["external_id"])
        if form.apply_to(user) and _saved(form, user, request, "enduser.create", None):
            messages.success(request, f"Added the end user {user.external_id}.")
            return redirect("portal:end_user", provider_id=app.provider_id, external_id=user.external_id)
    return _form_page(request, app, form, None)


@org_required
def end_user_edit(request: PortalRequest, provider_id: str, external_id: str) -> HttpResponse:
    app = app_for_user(request, provider_id)
    user = end_user_for_user(app, external_id)
    form = EndUserForm(request.POST if request.method == "POST" else None, app=app, end_user=user)
    if form.is_bound and form.is_valid():
        before = enduser_audit_view(user)
        if form.apply_to(user) and _saved(form, user, request, "enduser.update", before):
            messages.success(request, "Your changes are saved.")
            return redirect("portal:end_user", provider_id=app.provider_id, external_id=user.external_id)
        user.refresh_from_db()  # the page shows what is saved, not what was typed
    return _form_page(request, app, form, user)


def _form_page(request: PortalRequest, app: App, form: EndUserForm, user: EndUser | None) -> HttpResponse:
    if not request.membership.can_edit:
        form.disable()
    return render(
        request, "portal/enduser_form.html", {"app": app, "page": "endusers", "form": form, "end_user": user}
    )


def _saved(
    form: EndUserForm, user: EndUser, request: PortalRequest, action: str, before: dict | None
) -> bool:
    typed = [name for name in ("sip_password", "provisioning_password") if form.cleaned_data.get(name)]
    try:
        with transaction.atomic():  # the change and its audit entry, or neither
            user.save()
            after = enduser_audit_view(user)
            if typed:
                after["passwordsTyped"] = typed  # a new password shows in no other key: say one was set
            auditlog.record(request, action, user, before, after)
    except IntegrityError:
        form.add_error("external_id", "This App already has an end user with this id.")
        return False
    return True


@org_required
def end_user_delete(request: PortalRequest, provider_id: str, external_id: str) -> HttpResponse:
    app = app_for_user(request, provider_id)
    user = end_user_for_user(app, external_id)
    if request.method == "POST":
        with transaction.atomic():
            auditlog.record(request, "enduser.delete", user, enduser_audit_view(user), None)
            user.delete()
        messages.success(request, f"Deleted the end user {external_id}.")
        return redirect("portal:end_users", provider_id=app.provider_id)
    return render(
        request,
        "portal/enduser_delete.html",
        {
            "app": app,
            "page": "endusers",
            "end_user": user,
            "pending_tokens": tokens_with_status(app, "pending").filter(end_user=user).count(),
        },
    )


@never_cache
@org_required
def end_user_detail(request: PortalRequest, provider_id: str, external_id: str) -> HttpResponse:
    app = app_for_user(request, provider_id)
    user = end_user_for_user(app, external_id)
    return _detail(request, app, user, SetupLinkForm())


@never_cache  # the token is shown in this answer only
@require_POST
@org_required
def end_user_setup_link(request: PortalRequest, provider_id: str, external_id: str) -> HttpResponse:
    app = app_for_user(request, provider_id)
    user = end_user_for_user(app, external_id)
    form = SetupLinkForm(request.POST)
    if not form.is_valid():
        return _detail(request, app, user, form, status=400)
    try:
        with transaction.atomic():  # the token and its audit entry, or neither
            issued = issue_token(user, max_uses=form.cleaned_data["max_uses"], created_by=request.user.email)
            auditlog.record(
                request,
                "token.create",
                issued.token,
                None,
                {
                    "externalId": user.external_id,
                    "expires": issued.token.expires.isoformat(),
                    "maxUses": issued.token.max_uses,
                },
            )
    except TokenRequestError as error:
        form.add_error(None, error.message)
        return _detail(request, app, user, form, status=400)
    return _detail(request, app, user, SetupLinkForm(), issued=_shown_once(issued))


def _shown_once(issued: IssuedToken) -> dict[str, Any]:
    """The new token for this one answer: its code, and the QR as data: URIs (never a GET URL)."""
    linphone_url = linphone.enduser_url(issued.plain)
    return {
        "code": issued.code,
        "token": issued.token,
        "png": _data_uri(render_png(issued.code), "image/png"),
        "svg": _data_uri(render_svg(issued.code), "image/svg+xml"),
        "setup_page": setup_page_url(issued.plain),
        "linphone_url": linphone_url,
        "linphone_link": linphone_link(linphone_url),
        "linphone_png": _data_uri(render_png(linphone_url), "image/png"),
    }


def _data_uri(image: bytes, content_type: str) -> str:
    return f"data:{content_type};base64," + base64.b64encode(image).decode("ascii")


@require_POST
@org_required
def end_user_email(request: PortalRequest, provider_id: str, external_id: str) -> HttpResponse:
    app = app_for_user(request, provider_id)
    user = end_user_for_user(app, external_id)
    if not user.email:
        messages.error(request, "This end user has no e-mail address: add one first.")
    elif not mail_server_configured():
        messages.error(request, "No mail server is configured (EMAIL_URL), so no e-mail can be sent.")
    else:
        item = send_setup_emails(app, [user], actor=request.user.email, advance=lambda count: None)[0]
        if item["status"] == "sent":
            messages.success(request, f"Sent a setup e-mail with a new one-time setup link to {user.email}.")
        else:
            messages.error(request, f"The e-mail was not sent. {item['message']}")
    return redirect("portal:end_user", provider_id=app.provider_id, external_id=user.external_id)


@never_cache  # the answer shows codes that carry passwords
@require_POST
@org_required
def end_user_reveal(request: PortalRequest, provider_id: str, external_id: str) -> HttpResponse:
    """Show the user's codes (and QR images) in this one answer, for editors, with an audit row.

    A code carries the password (or the provisioning login): the pages show that it exists, and
    showing it is a deliberate step that leaves a trace, like an export with passwords.
    """
    app = app_for_user(request, provider_id)
    user = end_user_for_user(app, external_id)
    codes = _codes(user, revealed=True)
    auditlog.record(
        request,
        "enduser.reveal",
        user,
        None,
        {"externalId": user.external_id, "formats": [code["format"] for code in codes if "code" in code]},
    )
    return _detail(request, app, user, SetupLinkForm(), codes=codes)


def _code(user: EndUser, code_format: str) -> str:
    return local_code(user) if code_format == "local" else external_code(user)


def _codes(user: EndUser, *, revealed: bool = False) -> list[dict[str, Any]]:
    """Each code the user can have: whether it carries a password, and when revealed its text and
    QR images (as data: URIs, never a URL that could be fetched again)."""
    codes = []
    for code_format in fitting_formats(user):
        entry: dict[str, Any] = {"format": code_format, "name": FORMAT_NAMES[code_format]}
        try:
            code = _code(user, code_format)
        except CodeError as error:
            entry["error"] = str(error)
        else:
            password = user.sip_password if code_format == "local" else user.provisioning_password
            entry["carries_password"] = bool(password)
            if revealed:
                entry.update(
                    code=code,
                    png=_data_uri(render_png(code), "image/png"),
                    svg=_data_uri(render_svg(code), "image/svg+xml"),
                )
        codes.append(entry)
    return codes


def _detail(
    request: PortalRequest,
    app: App,
    user: EndUser,
    form: SetupLinkForm,
    *,
    issued: dict[str, Any] | None = None,
    codes: list[dict[str, Any]] | None = None,
    status: int = 200,
) -> HttpResponse:
    tokens = [
        {"token": t, "status": token_status(t)}
        for t in tokens_of(app).filter(end_user=user)[:USER_TOKENS_SHOWN]
    ]
    return render(
        request,
        "portal/enduser_detail.html",
        {
            "app": app,
            "page": "endusers",
            "end_user": user,
            "codes": codes or _codes(user),
            "form": form,
            "revealed": codes is not None,
            "issued": issued,
            "tokens": tokens,
            "can_email": bool(user.email),
            "mail_server": mail_server_configured(),
        },
        status=status,
    )
