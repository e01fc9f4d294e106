"""Setup tokens: one-time, expiring secrets standing for an end user's credentials.

Only the SHA-256 of a token is stored. Redemption follows the device-initialisation steps
pretix uses: validate, look up, refuse used/expired/revoked, mark used (atomically), record,
answer; and a redemption that delivered no accounts is given back.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from sessioncloud.codes.formats import encode_token, is_valid_token
from sessioncloud.providers.models import EndUser, SetupToken, TokenRedemption, hash_token, served

security_log = logging.getLogger("sessioncloud.security")

MAX_TTL_HOURS = 30 * 24
MAX_USES = 5


class TokenRequestError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class IssuedToken:
    token: SetupToken
    plain: str

    @property
    def code(self) -> str:
        return encode_token(self.plain)


def new_plain_token() -> str:
    """192 random bits, URL-safe, never starting with "-": typed after a command (`sessioncloud
    phone redeem <token>`), a leading dash would be read as an option."""
    while True:
        plain = secrets.token_urlsafe(24)
        if not plain.startswith("-"):
            return plain


def issue_token(
    end_user: EndUser, *, ttl_hours: int | None = None, max_uses: int | None = None, created_by: str = ""
) -> IssuedToken:
    app = end_user.app
    ttl = app.token_ttl_hours if ttl_hours is None else ttl_hours
    uses = 1 if max_uses is None else max_uses
    if not 1 <= ttl <= MAX_TTL_HOURS:
        raise TokenRequestError("ttlHours", f"A token lives between 1 and {MAX_TTL_HOURS} hours (30 days).")
    if not 1 <= uses <= MAX_USES:
        raise TokenRequestError("maxUses", f"A token may be redeemed between 1 and {MAX_USES} times.")
    if not (end_user.has_sip or end_user.has_provisioning):
        raise TokenRequestError("endUser", "This end user has neither SIP nor provisioning credentials.")
    plain = new_plain_token()
    token = SetupToken.objects.create(
        app=app,
        end_user=end_user,
        token_hash=hash_token(plain),
        expires=timezone.now() + timedelta(hours=ttl),
        max_uses=uses,
        created_by=created_by[:200],
    )
    return IssuedToken(token, plain)


TOKEN_STATUSES = ("pending", "used", "expired", "revoked")


def token_status(token: SetupToken) -> str:
    """pending, used, expired or revoked: what the portal shows (the phone never sees which).

    The same rule as `with_status`, for a token already loaded: revoked wins over used up, used
    up over expired.
    """
    if token.revoked:
        return "revoked"
    if token.uses >= token.max_uses:
        return "used"
    if token.expires <= timezone.now():
        return "expired"
    return "pending"


def with_status(status: str) -> Q:
    """The condition on SetupToken rows that `token_status` would call `status`.

    A listing filters by it, and a redemption takes a use only of a row still "pending" in one
    conditional UPDATE; both must agree with what the portal shows.
    """
    now = timezone.now()
    live = Q(revoked__isnull=True)
    live_and_unused = live & Q(uses__lt=F("max_uses"))
    conditions = {
        "pending": live_and_unused & Q(expires__gt=now),
        "used": live & Q(uses__gte=F("max_uses")),
        "expired": live_and_unused & Q(expires__lte=now),
        "revoked": Q(revoked__isnull=False),
    }
    return conditions[status]


def revoke(token: SetupToken) -> None:
    if token.revoked is None:
        token.revoked = timezone.now()
        token.save(update_fields=["revoked"])


@dataclass(frozen=True)
class Claim:
    """One redemption of a token, taken but not yet final: it is given back unless it delivers."""

    token: SetupToken
    redemption: TokenRedemption


def claim(plain: str, device_id: str, ip: str | None, user_agent: str) -> Claim | None:
    """Take one redemption of a valid token of an enabled App; None for unknown, expired, used,
    revoked, or an App not served, alike."""
    if not is_valid_token(plain):
        security_log.warning("setup token refused", extra={"reason": "malformed"})
        return None
    token = (
        SetupToken.objects.select_related("app__organization", "end_user")
        .filter(token_hash=hash_token(plain))
        .first()
    )
    with transaction.atomic():
        # One conditional UPDATE of the token's own row: two concurrent redeems of a single-use
        # token cannot both pass (a condition on another table would be checked on a snapshot).
        claimed = (
            token is not None
            and served(token.app)
            and (SetupToken.objects.filter(with_status("pending"), pk=token.pk).update(uses=F("uses") + 1))
        )
        if not claimed:
            security_log.warning("setup token refused", extra={"reason": "unknown, expired, used or revoked"})
            return None
        assert token is not None
        redemption = TokenRedemption.objects.create(
            token=token, device_id=device_id, ip=ip, user_agent=user_agent[:300]
        )
    token.uses += 1
    return Claim(token, redemption)


def give_back(taken: Claim) -> None:
    """The redemption delivered no accounts (the provider failed or refused): it does not count."""
    with transaction.atomic():
        SetupToken.objects.filter(pk=taken.token.pk, uses__gt=0).update(uses=F("uses") - 1)
        taken.redemption.delete()
