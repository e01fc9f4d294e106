"""Organization-wide pages: creating and switching organizations, API keys, the audit log."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sessioncloud.accounts.adapters import start_organization
from sessioncloud.accounts.models import ApiKey, record_audit
from sessioncloud.portal import auditlog
from sessioncloud.portal.access import (
    AUDIT_PAGE_SIZE,
    AuthenticatedRequest,
    PortalRequest,
    api_key_for_user,
    api_keys_for_user,
    audit_entries_for_user,
    current_membership,
    membership_of_user,
    org_required,
    page_of,
    select_organization,
)
from sessioncloud.portal.auditlog import AuditFilterForm
from sessioncloud.portal.confirm import ONLY_EDITORS, Confirmation, confirmation_page
from sessioncloud.portal.forms import ApiKeyForm, OrganizationForm


@login_required
def organization_new(request: AuthenticatedRequest) -> HttpResponse:
    form = OrganizationForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        organization = start_organization(form.cleaned_data["name"].strip(), request.user)
        record_audit(
            organization,
            request.user.email,
            "organization.create",
            organization,
            None,
            {"name": organization.name, "slug": organization.slug},
        )
        select_organization(request, organization)
        messages.success(request, f"Created {organization.name}. Now create its first App.")
        return redirect("portal:app_new")
    return render(
        request,
        "portal/organization_new.html",
        {
            "form": form,
            "has_organization": current_membership(request) is not None,
        },
    )


@require_POST
@login_required
def organization_switch(request: AuthenticatedRequest) -> HttpResponse:
    membership = membership_of_user(request, request.POST.get("organization", ""))
    select_organization(request, membership.organization)
    return redirect("portal:home")


@never_cache
@org_required
def api_keys(request: PortalRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST if request.method == "POST" else None)
    new_key = None
    if form.is_bound and form.is_valid():
        key, new_key = ApiKey.issue(request.org, form.cleaned_data["name"].strip())
        auditlog.record(request, "apikey.create", key, None, {"name": key.name, "hint": key.hint})
        form = ApiKeyForm()
    # The new key is shown in this answer only: it is stored hashed and cannot be shown again.
    return render(
        request,
        "portal/api_keys.html",
        {
            "keys": api_keys_for_user(request),
            "form": form,
            "new_key": new_key,
        },
    )


@require_http_methods(["GET", "POST"])
@org_required
def api_key_revoke(request: PortalRequest, key_id: int) -> HttpResponse:
    """GET asks first (saying what revoking does); POST revokes."""
    key = api_key_for_user(request, key_id)
    if request.method == "GET" and key.revoked is None:
        return _confirm_revoke(request, key)
    if key.revoked is None:
        key.revoked = timezone.now()
        key.save(update_fields=["revoked"])
        auditlog.record(
            request,
            "apikey.revoke",
            key,
            {"name": key.name, "hint": key.hint, "revoked": False},
            {"name": key.name, "hint": key.hint, "revoked": True},
        )
        messages.success(request, f"The key {key.name} is revoked; calls with it are refused from now on.")
    return redirect("portal:api_keys")


def _confirm_revoke(request: PortalRequest, key: ApiKey) -> HttpResponse:
    used = (
        f"It was last used on {date_format(timezone.localtime(key.last_used), 'j M Y')}."
        if key.last_used
        else "It has never been used."
    )
    return confirmation_page(
        request,
        Confirmation(
            title=f"Revoke the API key {key.name}?",
            consequences=[
                f"Every call with the key {key.hint}… is refused from now on. {used}",
                "Programs that use it stop working: give them a new key first.",
                "A revoked key cannot be used again; the audit log records who revoked it.",
            ],
            button="Revoke key",
            cancel_url=reverse("portal:api_keys"),
            refusal="" if request.membership.can_edit else ONLY_EDITORS,
        ),
    )


@org_required
def audit_log(request: PortalRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET, organization=request.org)
    page = page_of(auditlog.filtered(audit_entries_for_user(request), form), request, AUDIT_PAGE_SIZE)
    entries = [
        {"entry": entry, "sentence": auditlog.sentence(entry), "changes": auditlog.changes(entry)}
        for entry in page
    ]
    return render(
        request,
        "portal/audit_log.html",
        {
            "page": page,
            "entries": entries,
            "form": form,
            "filtered": any(request.GET.get(f) for f in form.fields),
            "query": request.GET.urlencode(),
        },
    )


@require_GET
@org_required
def audit_export(request: PortalRequest) -> StreamingHttpResponse:
    """The audit log as CSV, with the page's filters."""
    form = AuditFilterForm(request.GET, organization=request.org)
    entries = auditlog.filtered(audit_entries_for_user(request), form)
    response = StreamingHttpResponse(auditlog.audit_csv(entries), content_type="text/csv; charset=utf-8")
    slug = request.org.slug
    response["Content-Disposition"] = (
        f'attachment; filename="{slug}-audit-{timezone.localdate():%Y-%m-%d}.csv"'
    )
    response["Cache-Control"] = "no-store"
    return response
