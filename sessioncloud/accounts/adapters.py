"""Account flows around allauth: starting an organization, joining one by invitation."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from allauth.core import context as allauth_context
from allauth.mfa.adapter import DefaultMFAAdapter
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.text import slugify

from sessioncloud.accounts.models import (
    Invitation,
    Membership,
    Organization,
    Role,
    record_audit,
)
from sessioncloud.lib.casing import sentence_case
from sessioncloud.providers.fields import secret_box

security_log = logging.getLogger("sessioncloud.security")
INVITATION_SESSION_KEY = "portal_invitation"
SLUG_MAX_LENGTH = 50


@dataclass(frozen=True)
class PublicSite:
    """What allauth's e-mails say about the site: its public address, not the request's Host."""

    domain: str
    name: str = "SessionCloud"


PUBLIC_SITE = PublicSite(domain=urlsplit(settings.PUBLIC_URL).netloc)


def public_link(value: Any, request_origin: str | None) -> Any:
    """A link built on the request's own origin, moved onto the public URL; anything else as is."""
    if isinstance(value, str) and request_origin and value.startswith(request_origin + "/"):
        return settings.PUBLIC_URL + value[len(request_origin) :]
    return value


class AccountAdapter(DefaultAccountAdapter):
    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError:
            security_log.warning("login throttled", extra={"ip": self.get_client_ip(request)})
            raise

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        # allauth keys the per-account limit by "<host:port>:<login>", and the Host header is
        # the client's to choose (any port passes ALLOWED_HOSTS): each spelling, or each app
        # process reached by its own address, would get a fresh budget of guesses.
        return str(credentials.get("email", credentials.get("username", ""))).lower()

    def authentication_failed(self, request: HttpRequest, **credentials: Any) -> None:
        # The address only, never the e-mail or password typed: enough for fail2ban.
        security_log.warning("login failed", extra={"ip": self.get_client_ip(request)})

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        # allauth builds its links (password reset, address confirmation, sign-up) from the
        # request's Host header, which the client chooses: every link in an e-mail, and the
        # site named in it, use the configured public address instead.
        request = allauth_context.request
        request_origin = request.build_absolute_uri("/").rstrip("/") if request is not None else None
        public = {key: public_link(value, request_origin) for key, value in context.items()}
        super().send_mail(template_prefix, email, {"current_site": PUBLIC_SITE, **public})

    def format_email_subject(self, subject: str) -> str:
        # allauth writes its subjects in Title Case; the portal's texts are in sentence case.
        return super().format_email_subject(sentence_case(subject))

    def is_email_verified(self, request: HttpRequest, email: str) -> bool:
        # The invitation reached this address, so it is verified; checked again here because
        # the invitation may have been revoked since it was stashed.
        invitation = stashed_invitation(request)
        if invitation is not None and invitation.email.lower() == email.lower():
            return True
        return super().is_email_verified(request, email)


# Where allauth keeps an authenticator's secret in its data: the TOTP key, the recovery codes' seed.
MFA_SECRET_KEYS = ("secret", "seed")


class MFAAdapter(DefaultMFAAdapter):
    """Two-factor secrets encrypted like every other secret (SESSIONCLOUD_ENCRYPTION_KEYS)."""

    def encrypt(self, text: str) -> str:
        return secret_box().encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        # Secrets saved before they were encrypted keep working until `reencrypt` rewrites them.
        return secret_box().decrypt_or_clear(encrypted_text)


def reencrypt_mfa_data(data: dict[str, Any]) -> dict[str, Any]:
    """An authenticator's data with its secret under the first key (however it was stored)."""
    return {
        key: secret_box().reencrypt(value) if key in MFA_SECRET_KEYS and value else value
        for key, value in data.items()
    }


def throttled(request: HttpRequest) -> HttpResponse:
    """Every answer allauth's limits refuse (login, sign-up, password reset): logged, then 429."""
    security_log.warning(
        "request throttled", extra={"ip": AccountAdapter().get_client_ip(request), "path": request.path}
    )
    return render(request, "429.html", status=429)


def unique_slug(name: str) -> str:
    """A free organization slug derived from its name: acme-telecom, acme-telecom-2, ..."""
    base = slugify(name)[:SLUG_MAX_LENGTH].strip("-") or "org"
    slug, number = base, 1
    while Organization.objects.filter(slug=slug).exists():
        number += 1
        suffix = f"-{number}"
        slug = base[: SLUG_MAX_LENGTH - len(suffix)].rstrip("-") + suffix
    return slug


@transaction.atomic
def start_organization(name: str, owner: User) -> Organization:
    """A new organization, verified once its owner's address is (at sign-up it is not yet)."""
    verified = EmailAddress.objects.filter(user=owner, verified=True).exists()
    organization = Organization.objects.create(slug=unique_slug(name), name=name, verified=verified)
    Membership.objects.create(organization=organization, user=owner, role=Role.OWNER)
    return organization


def stash_invitation(request: HttpRequest, invitation: Invitation) -> None:
    """Remember an invitation across sign-up (the session holds its hash, never the token)."""
    request.session[INVITATION_SESSION_KEY] = invitation.token_hash


def stashed_invitation(request: HttpRequest | None) -> Invitation | None:
    token_hash = request.session.get(INVITATION_SESSION_KEY) if request is not None else None
    if not token_hash:
        return None
    return Invitation.pending().select_related("organization").filter(token_hash=token_hash).first()


def forget_invitation(request: HttpRequest) -> None:
    request.session.pop(INVITATION_SESSION_KEY, None)


@transaction.atomic
def accept_invitation(invitation: Invitation, user: User) -> Membership:
    """Make the user a member with the invited role (an existing membership keeps its role)."""
    membership, created = Membership.objects.get_or_create(
        organization=invitation.organization, user=user, defaults={"role": invitation.role}
    )
    invitation.accepted = timezone.now()
    invitation.save(update_fields=["accepted"])
    if created:
        record_audit(
            invitation.organization,
            user.email,
            "member.join",
            invitation,
            None,
            {"email": user.email, "role": membership.role},
        )
    return membership
