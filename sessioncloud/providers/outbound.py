"""How this deployment reaches providers' services: the address policy and circuit breakers."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError

from sessioncloud.lib.rediscache import lean_client, redis_client
from sessioncloud.provisioning.breaker import CircuitBreaker, MemoryBreakerStore, RedisBreakerStore
from sessioncloud.provisioning.guard import GuardError, OutboundPolicy, check_url_for_save
from sessioncloud.provisioning.merge import SipProfile

if TYPE_CHECKING:
    from sessioncloud.providers.models import App

_memory_store = MemoryBreakerStore()


def outbound_policy() -> OutboundPolicy:
    return OutboundPolicy(allow_nets=settings.OUTBOUND_ALLOW_NETS, allow_http=settings.OUTBOUND_ALLOW_HTTP)


@lru_cache(maxsize=1)
def _redis_store(url: str) -> RedisBreakerStore:
    # One store per process: it registers its script (hashing it) once, not on every call.
    return RedisBreakerStore(redis_client(url), lean_client(url))


def breaker_for(app_id: int) -> CircuitBreaker:
    """A provider's breaker; shared by every process when Redis is configured."""
    store: RedisBreakerStore | MemoryBreakerStore
    if settings.REDIS_URL:
        store = _redis_store(settings.REDIS_URL)
    else:
        store = _memory_store
    return CircuitBreaker(
        store, str(app_id), namespace=f"{settings.CACHES['default'].get('KEY_PREFIX', 'sc')}:breaker"
    )


def check_provisioning_url(url: str) -> list[str]:
    """The save-time check of a provisioning URL: refusals raise, soft problems are returned."""
    try:
        return check_url_for_save(url, outbound_policy())
    except GuardError as error:
        raise ValidationError(f"SessionCloud cannot call this URL: {error.message}.") from None


def sip_profile(app: App) -> SipProfile:
    return SipProfile(
        domain=app.sip_domain,
        proxy=app.sip_proxy or None,
        transport=app.sip_transport,
        use_subdomains=app.use_subdomains,
        srtp=app.srtp,
        messaging=app.messaging,
        video=app.video,
        callrecording=app.callrecording,
        voicemail_number=app.voicemail_number or None,
        registration_expires=app.registration_expires,
        stun_server=app.stun_server or None,
        turn_server=app.turn_server or None,
        turn_username=app.turn_username or None,
        turn_password=app.turn_password or None,
        ice=app.ice_enabled,
        keepalive_seconds=app.keepalive_seconds,
        srtp_mode=app.srtp_mode,
        audio_codecs=tuple(app.audio_codecs),
        video_codecs=tuple(app.video_codecs),
        dtmf_mode=app.dtmf_mode,
        realm=app.sip_realm or None,
    )
