"""Tenants (organizations), their members, API keys and the audit log."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

SLUG_VALIDATOR = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use 1 to 50 lowercase letters, digits and inner hyphens.",
)
API_KEY_PREFIX = "sck_"


class Organization(models.Model):
    slug = models.CharField(max_length=50, unique=True, validators=[SLUG_VALIDATOR])
    name = models.CharField(max_length=200)
    # A self-service sign-up is unverified until its owner confirms the e-mail address; its Apps
    # are not served to phones until then (so nobody can publish a brand's ProviderId at once).
    verified = models.BooleanField(
        default=True, help_text="Phones are served this organization's Apps only when it is verified."
    )
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    organization = models.ForeignKey(Organization, models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.ADMIN)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="one_membership_per_org")
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"

    @property
    def can_edit(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)


def hash_api_key(key: str) -> str:
    # API keys are 256-bit random values: a fast hash is enough (no password stretching needed).
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiKey(models.Model):
    organization = models.ForeignKey(Organization, models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=12, help_text="The first characters, to recognise a key.")
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @classmethod
    def issue(cls, organization: Organization, name: str) -> tuple[ApiKey, str]:
        """Create a key; the plain key is returned once and never stored."""
        plain = API_KEY_PREFIX + secrets.token_urlsafe(32)
        key = cls.objects.create(
            organization=organization, name=name, key_hash=hash_api_key(plain), hint=plain[:10]
        )
        return key, plain


class AuditEntry(models.Model):
    organization = models.ForeignKey(Organization, models.CASCADE, related_name="audit_entries")
    actor = models.CharField(max_length=200, help_text="The user's e-mail or the API key's name.")
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=50)
    object_repr = models.CharField(max_length=200)
    # The ProviderId of the App the change concerns ("" for organization-wide changes): a
    # text, not a link, so a deleted App's history can still be found by it.
    app_provider_id = models.CharField("App", max_length=32, blank=True, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.actor}: {self.action} {self.object_repr}"


def record_audit(
    organization: Organization,
    actor: str,
    action: str,
    obj: Any,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEntry:
    """One row per change; callers pass snapshots with secrets already masked."""
    return AuditEntry.objects.create(
        organization=organization,
        actor=actor[:200],
        action=action,
        object_type=type(obj).__name__,
        object_repr=str(obj)[:200],
        app_provider_id=provider_id_of(obj),
        before=before,
        after=after,
    )


def provider_id_of(obj: Any) -> str:
    """The ProviderId of the App an audited object is or belongs to; "" for anything else."""
    app = obj if type(obj).__name__ == "App" else getattr(obj, "app", None)
    return str(getattr(app, "provider_id", "") or "")


INVITATION_TTL = timedelta(days=7)


def hash_invitation_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Invitation(models.Model):
    """An e-mailed offer to join an organization; only the token's hash is kept."""

    organization = models.ForeignKey(Organization, models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.ADMIN)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    accepted = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.email} to {self.organization}"

    @classmethod
    def issue(
        cls, organization: Organization, email: str, role: str, invited_by: str
    ) -> tuple[Invitation, str]:
        """Create an invitation; the plain token is returned once, for the e-mail."""
        plain = secrets.token_urlsafe(32)
        invitation = cls.objects.create(
            organization=organization,
            email=email,
            role=role,
            invited_by=invited_by[:200],
            token_hash=hash_invitation_token(plain),
            expires=timezone.now() + INVITATION_TTL,
        )
        return invitation, plain

    @classmethod
    def pending(cls) -> models.QuerySet[Invitation]:
        return cls.objects.filter(accepted__isnull=True, expires__gt=timezone.now())

    @classmethod
    def find_pending(cls, token: str) -> Invitation | None:
        if not token or len(token) > 100:
            return None
        return (
            cls.pending()
            .select_related("organization")
            .filter(token_hash=hash_invitation_token(token))
            .first()
        )
