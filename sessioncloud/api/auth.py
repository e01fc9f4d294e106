"""Authentication of the management API by organization API key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer

from sessioncloud.accounts.models import ApiKey, Organization, hash_api_key

# Writing last_used on every call would turn each read into a write; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Caller:
    organization: Organization
    key: ApiKey

    @property
    def actor(self) -> str:
        return f"api key {self.key.name} ({self.key.hint}…)"


class ApiRequest(HttpRequest):
    """The request of a management endpoint, once ApiKeyAuth let it through (for type checkers)."""

    auth: Caller


class ApiKeyAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Caller | None:
        if not token or len(token) > 200:
            return None
        key = (
            ApiKey.objects.select_related("organization")
            .filter(key_hash=hash_api_key(token), revoked__isnull=True)
            .first()
        )
        if key is None:
            return None
        now = timezone.now()
        if key.last_used is None or now - key.last_used > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used=now)
        return Caller(organization=key.organization, key=key)


def caller_of(request: ApiRequest) -> Caller:
    return request.auth
