from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from sessioncloud.onboarding.models import EmailSettings, Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Read-only: jobs are started by providers; the uploaded file and the result never show here."""

    list_display = ("created", "organization", "app", "kind", "status", "done", "total", "created_by")
    list_filter = ("kind", "status")
    list_select_related = ("organization", "app")
    exclude = ("input", "result")
    date_hierarchy = "created"

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).defer("input", "result")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(EmailSettings)
class EmailSettingsAdmin(admin.ModelAdmin):
    list_display = ("app", "sender_name", "subject", "updated")
    list_select_related = ("app",)
