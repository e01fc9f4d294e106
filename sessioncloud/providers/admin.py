"""Django admin for operators: every App, across organizations. Secrets are never shown."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from sessioncloud.accounts.models import record_audit
from sessioncloud.providers import deletion
from sessioncloud.providers.appdata import audit_snapshot
from sessioncloud.providers.models import App, Logo, ReservedProviderId, RetiredProviderId


class AppAdminForm(forms.ModelForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance.may_take_reserved = True  # an operator hands a reserved id to its brand

    def _update_errors(self, errors: ValidationError) -> None:
        # The App checks settings this form leaves out (a TURN server needs its write-only
        # password): those complaints go above the form instead of naming a missing field.
        if hasattr(errors, "error_dict"):
            placed: dict[str, list[ValidationError]] = {}
            for field, messages in errors.error_dict.items():
                placed.setdefault(field if field in self.fields else NON_FIELD_ERRORS, []).extend(messages)
            errors = ValidationError(placed)
        super()._update_errors(errors)


@admin.register(App)
class AppAdmin(admin.ModelAdmin):
    form = AppAdminForm
    list_display = ("provider_id", "name", "organization", "kind", "provisioning_mode", "enabled", "updated")
    list_filter = ("enabled", "kind", "provisioning_mode")
    search_fields = ("provider_id", "name", "organization__slug", "organization__name")
    list_select_related = ("organization",)
    autocomplete_fields = ("organization",)
    raw_id_fields = ("logo", "logo_dark")
    # The encrypted fields stay out of the form: the admin shows only whether they are set.
    exclude = ("provisioning_auth_header", "signing_secrets", "turn_password")
    readonly_fields = (
        "auth_header_state",
        "signing_secrets_state",
        "turn_password_state",
        "created",
        "updated",
    )
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ("disable_apps", "enable_apps")

    @admin.display(description="Authorization header")
    def auth_header_state(self, app: App) -> str:
        return "set (hidden)" if app.provisioning_auth_header else "not set"

    @admin.display(description="TURN password")
    def turn_password_state(self, app: App) -> str:
        return "set (hidden)" if app.turn_password else "not set"

    @admin.display(description="Signing secrets")
    def signing_secrets_state(self, app: App) -> str:
        count = len(app.signing_secret_list())
        return f"{count} valid (hidden)" + (" – rotation under way" if count > 1 else "")

    def save_model(self, request: HttpRequest, obj: App, form: Any, change: bool) -> None:
        # The save signals forget the cached phone config, under the old ProviderId too.
        before = audit_snapshot(App.objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)
        if before and before["providerId"].lower() != obj.provider_id.lower():
            # Phones in the field still hold the old ProviderId: no one else may take it.
            deletion.retire_provider_id(before["providerId"], obj.organization_id, _operator(request))
        record_audit(
            obj.organization,
            _operator(request),
            "app.update" if change else "app.create",
            obj,
            before,
            audit_snapshot(obj),
        )

    def delete_model(self, request: HttpRequest, obj: App) -> None:
        # As in the portal: the ProviderId stays reserved for the organization, and it is audited.
        try:
            deletion.delete_app(obj, _operator(request))
        except (deletion.AppBusy, deletion.AppGone) as problem:
            self.message_user(request, f"{obj.provider_id}: {problem}", messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[App]) -> None:
        for app in queryset.select_related("organization"):
            self.delete_model(request, app)

    @admin.action(description="Disable the selected Apps")
    def disable_apps(self, request: HttpRequest, queryset: QuerySet[App]) -> None:
        self._set_enabled(request, queryset, False)

    @admin.action(description="Enable the selected Apps")
    def enable_apps(self, request: HttpRequest, queryset: QuerySet[App]) -> None:
        self._set_enabled(request, queryset, True)

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet[App], enabled: bool) -> None:
        changed = 0
        for app in queryset.select_related("organization"):
            if app.enabled == enabled:
                continue
            before = audit_snapshot(app)
            app.enabled = enabled
            app.save(update_fields=["enabled", "updated"])  # one save each, so the signals run
            record_audit(
                app.organization, _operator(request), "app.general", app, before, audit_snapshot(app)
            )
            changed += 1
        self.message_user(
            request, f"{changed} App(s) {'enabled' if enabled else 'disabled'}.", messages.SUCCESS
        )


@admin.register(ReservedProviderId)
class ReservedProviderIdAdmin(admin.ModelAdmin):
    list_display = ("provider_id", "note", "created")
    search_fields = ("provider_id", "note")
    readonly_fields = ("created",)


@admin.register(RetiredProviderId)
class RetiredProviderIdAdmin(admin.ModelAdmin):
    """Deleting a row releases the ProviderId: anyone may then take it (docs/portal.md)."""

    list_display = ("provider_id", "organization", "retired", "retired_by")
    search_fields = ("provider_id", "organization__slug", "organization__name")
    list_select_related = ("organization",)
    readonly_fields = ("provider_id", "organization", "retired", "retired_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Logo)
class LogoAdmin(admin.ModelAdmin):
    list_display = ("sha256", "width", "height", "created")
    exclude = ("content",)
    readonly_fields = ("sha256", "width", "height", "created")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _operator(request: HttpRequest) -> str:
    return f"operator {request.user.get_username()}"
