"""The App list and each App's settings pages."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from sessioncloud.portal import auditlog
from sessioncloud.portal.access import PortalRequest, app_for_user, apps_for_user, org_required
from sessioncloud.portal.confirm import ONLY_EDITORS, Confirmation, confirmation_page
from sessioncloud.portal.contrast import contrast_of
from sessioncloud.portal.forms import (
    AppSettingsForm,
    BrandingForm,
    GeneralForm,
    NewAppForm,
    ProvisioningForm,
    SipForm,
)
from sessioncloud.portal.templatetags.portal import FALLBACK_COLOR
from sessioncloud.providers import deletion, linphone
from sessioncloud.providers.appdata import audit_snapshot
from sessioncloud.providers.models import App
from sessioncloud.providers.validators import COLOR_RE, normalize_color

Form = TypeVar("Form", bound=AppSettingsForm)


@org_required
def home(request: PortalRequest) -> HttpResponse:
    return render(request, "portal/home.html", {"apps": apps_for_user(request)})


@org_required
def app_new(request: PortalRequest) -> HttpResponse:
    form = NewAppForm(
        request.POST if request.method == "POST" else None, instance=App(organization=request.org)
    )
    if form.is_bound and form.is_valid():
        try:
            with transaction.atomic():
                app = form.save()
        except IntegrityError:
            # Another sign-up took the same ProviderId between validation and saving.
            form.add_error("provider_id", "This ProviderId is already taken.")
        else:
            _audit(request, "app.create", app, None)
            messages.success(request, f"Created the App {app.provider_id}.")
            return redirect("portal:app_general", provider_id=app.provider_id)
    return render(request, "portal/app_new.html", {"form": form})


@org_required
def app_detail(request: PortalRequest, provider_id: str) -> HttpResponse:
    app = app_for_user(request, provider_id)
    return redirect("portal:app_dashboard", provider_id=app.provider_id)


@org_required
def app_general(request: PortalRequest, provider_id: str) -> HttpResponse:
    return _edit_app(request, app_for_user(request, provider_id), GeneralForm, "general", _general_context)


def _general_context(app: App, form: AppSettingsForm) -> dict[str, Any]:
    return {"linphone_app_url": linphone.app_url(app)}


@org_required
def app_branding(request: PortalRequest, provider_id: str) -> HttpResponse:
    return _edit_app(request, app_for_user(request, provider_id), BrandingForm, "branding", _branding_context)


@org_required
def app_sip(request: PortalRequest, provider_id: str) -> HttpResponse:
    return _edit_app(request, app_for_user(request, provider_id), SipForm, "sip", _sip_context)


@org_required
def app_provisioning(request: PortalRequest, provider_id: str) -> HttpResponse:
    return _edit_app(
        request, app_for_user(request, provider_id), ProvisioningForm, "provisioning", _provisioning_context
    )


@never_cache
@require_POST
@org_required
def app_rotate_secret(request: PortalRequest, provider_id: str) -> HttpResponse:
    app = app_for_user(request, provider_id)
    before = _secret_fingerprints(app)
    new_secret = app.rotate_signing_secret()
    app.save(update_fields=["signing_secrets", "updated"])
    _audit_secrets(request, "app.signing_secret.rotate", app, before)
    # Shown in this answer only, never stored in the session or shown again.
    form = ProvisioningForm(instance=app)
    context = {"new_secret": new_secret, **_provisioning_context(app, form)}
    return _render_app_page(request, app, form, "provisioning", context)


@require_POST
@org_required
def app_end_rotation(request: PortalRequest, provider_id: str) -> HttpResponse:
    app = app_for_user(request, provider_id)
    if len(app.signing_secret_list()) > 1:
        before = _secret_fingerprints(app)
        app.end_rotation()
        app.save(update_fields=["signing_secrets", "updated"])
        _audit_secrets(request, "app.signing_secret.end_rotation", app, before)
        messages.success(request, "Rotation ended: only the newest signing secret is valid now.")
    return redirect("portal:app_provisioning", provider_id=app.provider_id)


@require_http_methods(["GET", "POST"])
@org_required
def app_delete(request: PortalRequest, provider_id: str) -> HttpResponse:
    """GET says what deleting does; POST, with the ProviderId typed again, deletes."""
    app = app_for_user(request, provider_id)
    if request.method == "GET":
        return _confirm_delete(request, app, "")
    if request.POST.get("confirm_text", "").strip().lower() != app.provider_id.lower():
        return _confirm_delete(request, app, f"Type {app.provider_id} as shown to delete this App.")
    try:
        deletion.delete_app(app, request.user.email)
    except deletion.AppBusy as busy:
        messages.error(request, str(busy))
        return redirect("portal:app_delete", provider_id=app.provider_id)
    except deletion.AppGone:
        pass  # deleted a moment ago by someone else: the outcome asked for
    messages.success(
        request, f"Deleted the App {app.provider_id}. Its ProviderId stays reserved for {request.org.name}."
    )
    return redirect("portal:home")


def _confirm_delete(request: PortalRequest, app: App, error: str) -> HttpResponse:
    contents = deletion.contents_of(app)
    pid, organization = app.provider_id, request.org.name
    busy = deletion.JOB_RUNNING if deletion.has_running_job(app) else ""
    return confirmation_page(
        request,
        Confirmation(
            title=f"Delete the App {app.name} ({pid})?",
            consequences=[
                f"Phones: asking for the configuration of {pid} gets 404 (provider_not_found) from now on, "
                "and "
                "logins and setup links for it are refused the same way. Phones keep the accounts they "
                "already "
                "have until their app asks again.",
                f"End users: its {_count(contents.end_users, 'end user')} and "
                f"{_count(contents.setup_tokens, 'setup token')} are deleted; unused setup links stop "
                "working. "
                "Export the end users first (Bulk, Export) if you may need them again.",
                f"Devices and logs: its {_count(contents.devices, 'device')}, "
                f"{_count(contents.provisioning_log_entries, 'provisioning log row')} and "
                f"{_count(contents.jobs, 'bulk job')} (with their files) are deleted.",
                f"The ProviderId {pid} stays reserved for {organization}: no one else can take it, so phones "
                "that "
                "still hold it never reach another provider. You can create an App with it again.",
                "The audit log keeps the App's last settings and who deleted it. There is no undo: to stop "
                "phones for a while, disable the App on the General page instead.",
            ],
            button="Delete this App",
            cancel_url=reverse("portal:app_general", args=[pid]),
            typed=pid,
            typed_error=error,
            refusal=busy or ("" if request.membership.can_edit else ONLY_EDITORS),
        ),
        app=app,
        page="general",
        status=400 if error else 200,
    )


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _edit_app(
    request: PortalRequest,
    app: App,
    form_class: type[Form],
    page: str,
    extra: Callable[[App, Form], dict[str, Any]] | None = None,
) -> HttpResponse:
    """GET shows the page's form; POST validates it, saves its fields only and audits."""
    before = audit_snapshot(app)
    posted = request.method == "POST"
    form = form_class(request.POST if posted else None, request.FILES if posted else None, instance=app)
    if posted and form.is_valid():
        form.save(commit=False)
        app.save(update_fields=form.update_fields)
        _audit(request, f"app.{page}", app, before)
        for warning in form.warnings:
            messages.warning(request, warning)
        messages.success(request, "Your changes are saved.")
        return redirect(f"portal:app_{page}", provider_id=app.provider_id)
    if posted:
        app.refresh_from_db()  # the page header shows what is saved, not what was typed
    if not request.membership.can_edit:
        form.disable()
    return _render_app_page(request, app, form, page, extra(app, form) if extra else {})


def _render_app_page(
    request: PortalRequest, app: App, form: AppSettingsForm, page: str, context: dict[str, Any]
) -> HttpResponse:
    context = {"app": app, "form": form, "page": page, **context}
    return render(request, f"portal/app_{page}.html", context)


def _audit(request: PortalRequest, action: str, app: App, before: dict[str, Any] | None) -> None:
    after = audit_snapshot(app)
    if after != before:
        auditlog.record(request, action, app, before, after)


def _secret_fingerprints(app: App) -> dict[str, list[str]]:
    """Which secrets are valid, newest first, without revealing them.

    A short SHA-256 prefix of a 256-bit random secret tells nothing about it, yet lets the
    provider match a rotation in the log with the secret its service holds.
    """
    return {
        "provisioning.signingSecrets": [
            "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:8]
            for secret in app.signing_secret_list()
        ]
    }


def _audit_secrets(request: PortalRequest, action: str, app: App, before: dict[str, list[str]]) -> None:
    auditlog.record(request, action, app, before, _secret_fingerprints(app))


def _branding_context(app: App, form: BrandingForm) -> dict[str, Any]:
    typed = normalize_color(str(form["theme_color"].value() or ""))
    # Only a well-formed colour reaches the preview's style attribute.
    theme = next(color for color in (typed, app.theme_color, FALLBACK_COLOR) if COLOR_RE.match(color))
    links = [
        {"title": str(title.value() or "").strip()}
        for title, url in form.link_rows
        if str(title.value() or "").strip() or str(url.value() or "").strip()
    ]
    return {
        "theme": theme,
        "contrast": contrast_of(theme),
        "preview_name": app.name,
        "preview_help_title": str(form["help_menu_title"].value() or ""),
        "preview_links": links,
    }


def _sip_context(app: App, form: AppSettingsForm) -> dict[str, Any]:
    return {"turn_password_set": bool(app.turn_password)}


def _provisioning_context(app: App, form: AppSettingsForm) -> dict[str, Any]:
    return {
        "auth_header_set": bool(app.provisioning_auth_header),
        "secret_count": len(app.signing_secret_list()),
    }
