"""What happened to an App's phones: setup tokens, devices and the provisioning log."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from sessioncloud.accounts.tenancy import (
    devices_of,
    provisioning_log_of,
    tokens_of,
    tokens_with_status,
)
from sessioncloud.portal import auditlog
from sessioncloud.portal.access import (
    PortalRequest,
    app_for_user,
    device_for_user,
    org_required,
    page_of,
    token_for_user,
)
from sessioncloud.portal.confirm import ONLY_EDITORS, Confirmation, confirmation_page
from sessioncloud.portal.forms import LogFilterForm
from sessioncloud.providers.models import App, Device, DeviceStatus
from sessioncloud.providers.tokens import TOKEN_STATUSES, revoke, token_status


@org_required
def tokens(request: PortalRequest, provider_id: str) -> HttpResponse:
    app = app_for_user(request, provider_id)
    status = request.GET.get("status", "")
    found = tokens_with_status(app, status) if status in TOKEN_STATUSES else tokens_of(app)
    page = page_of(found, request)
    return render(
        request,
        "portal/tokens.html",
        {
            "app": app,
            "page": "tokens",
            "items": [{"token": t, "status": token_status(t)} for t in page],
            "tokens_page": page,
            "status": status if status in TOKEN_STATUSES else "",
            "statuses": TOKEN_STATUSES,
        },
    )


@require_POST
@org_required
def token_revoke(request: PortalRequest, provider_id: str, token_id: int) -> HttpResponse:
    app = app_for_user(request, provider_id)
    token = token_for_user(request, app, token_id)
    if token.revoked is None:
        with transaction.atomic():
            revoke(token)
            auditlog.record(
                request,
                "token.revoke",
                token,
                {"id": token.pk, "revoked": False},
                {"id": token.pk, "revoked": True},
            )
        messages.success(
            request,
            f"Revoked setup token {token.pk} of {token.end_user.external_id}; "
            "phones can no longer redeem it.",
        )
    if request.POST.get("back") == "end_user":
        return redirect(
            "portal:end_user", provider_id=app.provider_id, external_id=token.end_user.external_id
        )
    return redirect("portal:tokens", provider_id=app.provider_id)


@org_required
def devices(request: PortalRequest, provider_id: str) -> HttpResponse:
    app = app_for_user(request, provider_id)
    status = request.GET.get("status", "")
    found = devices_of(app)
    if status in DeviceStatus.values:
        found = found.filter(status=status)
    return render(
        request,
        "portal/devices.html",
        {
            "app": app,
            "page": "devices",
            "devices": page_of(found, request),
            "status": status if status in DeviceStatus.values else "",
            "statuses": DeviceStatus.values,
        },
    )


@require_http_methods(["GET", "POST"])
@org_required
def device_deactivate(request: PortalRequest, provider_id: str) -> HttpResponse:
    """GET (?device_id=) asks first, saying what deactivating does; POST deactivates."""
    app = app_for_user(request, provider_id)
    named = (request.POST if request.method == "POST" else request.GET).get("device_id", "")
    if request.method == "GET" and not named:
        return redirect("portal:devices", provider_id=app.provider_id)  # which device: chosen on that page
    device = device_for_user(app, named)
    if request.method == "GET" and device.status != DeviceStatus.DEACTIVATED:
        return _confirm_deactivate(request, app, device)
    if device.status != DeviceStatus.DEACTIVATED:
        device.status = DeviceStatus.DEACTIVATED
        with transaction.atomic():  # the change and its audit entry, or neither
            device.save(update_fields=["status"])
            auditlog.record(
                request, "device.deactivate", device, {"status": "active"}, {"status": "deactivated"}
            )
        messages.success(
            request,
            f"Deactivated the device {device.device_id}: on its next call the app removes its accounts.",
        )
    return redirect("portal:devices", provider_id=app.provider_id)


def _confirm_deactivate(request: PortalRequest, app: App, device: Device) -> HttpResponse:
    who = device.end_user.external_id if device.end_user else device.username
    return confirmation_page(
        request,
        Confirmation(
            title=f"Deactivate the device {device.device_id}?",
            consequences=[
                f"On its next call, the app on this device{f' (used by {who})' if who else ''} removes its "
                "accounts and tells the user that you deactivated it.",
                "Every later call from this device gets the same answer: it cannot be provisioned again.",
                "Other devices of the same user keep working; the audit log records who deactivated it.",
            ],
            button="Deactivate device",
            cancel_url=reverse("portal:devices", args=[app.provider_id]),
            hidden={"device_id": device.device_id},
            refusal="" if request.membership.can_edit else ONLY_EDITORS,
        ),
        app=app,
        page="devices",
    )


@org_required
def provisioning_log(request: PortalRequest, provider_id: str) -> HttpResponse:
    app = app_for_user(request, provider_id)
    form = LogFilterForm(request.GET)
    entries = provisioning_log_of(app)
    form.is_valid()  # a bad filter is shown as an error; the valid ones still apply
    chosen = form.cleaned_data
    if chosen.get("outcome"):
        entries = entries.filter(outcome=chosen["outcome"])
    if chosen.get("username"):
        entries = entries.filter(username__icontains=chosen["username"])
    if chosen.get("device"):
        entries = entries.filter(device_id__icontains=chosen["device"])
    entries = form.in_range(entries)
    return render(
        request,
        "portal/provisioning_log.html",
        {
            "app": app,
            "page": "log",
            "form": form,
            "entries": page_of(entries, request),
        },
    )
