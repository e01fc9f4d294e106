"""Django admin for operators: organizations and their members, API keys, the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from sessioncloud.accounts.models import ApiKey, AuditEntry, Invitation, Membership, Organization


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows an operator may read (and delete where allowed), never write."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)
    readonly_fields = ("created",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "app_count", "created")
    search_fields = ("slug", "name")
    readonly_fields = ("created",)
    inlines = (MembershipInline,)

    @admin.display(description="Apps")
    def app_count(self, organization: Organization) -> int:
        return organization.apps.count()


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    # Keys are created with `sessioncloud apikeys create` or in the portal, which show them once.
    list_display = ("name", "organization", "hint", "created", "last_used", "revoked")
    list_filter = ("revoked",)
    search_fields = ("name", "hint", "organization__slug")
    list_select_related = ("organization",)
    readonly_fields = ("organization", "name", "key_hash", "hint", "created", "last_used", "revoked")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created", "organization", "actor", "action", "object_type", "object_repr")
    list_filter = ("action", "object_type")
    search_fields = ("actor", "action", "object_repr", "organization__slug")
    list_select_related = ("organization",)
    readonly_fields = (
        "organization",
        "actor",
        "action",
        "object_type",
        "object_repr",
        "before",
        "after",
        "created",
    )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ("email", "organization", "role", "invited_by", "created", "expires", "accepted")
    search_fields = ("email", "organization__slug")
    list_select_related = ("organization",)
    exclude = ("token_hash",)
    readonly_fields = ("organization", "email", "role", "invited_by", "created", "expires", "accepted")
