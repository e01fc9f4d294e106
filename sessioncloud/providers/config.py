"""The public configuration a phone fetches for a ProviderId: built in one place, kept ready.

`render_config` builds the answer (docs/phone-api.md, "config"); `api/phone.py` serves it.
Phones fetch it on every start, so the answer is kept as ready-made bytes with its version:
in this process's memory for the embedded default, and in Redis when configured (so every app
process reads the same entry). Every save of an App deletes its entry and moves its generation
on (see signals.py); the next request renders it again, so every app process sees a change on
its next request.

With Redis, the workers of `sessioncloud serve` also keep the entries they read in their own
memory, under a lease with acknowledged invalidation (lib/leases.py): a save returns only once
no process can answer the old config from memory any more. `peek` reads only memory, so the
event loop can answer from it without waiting on anything.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import redis
from django.conf import settings
from django.core.signals import setting_changed
from django.db.models.functions import Lower
from django.dispatch import receiver

from sessioncloud.lib.leases import ALL, DEFAULT_LEASE_SECONDS, LeaseNames, LocalTier, invalidate
from sessioncloud.lib.rediscache import redis_client
from sessioncloud.lib.redisread import RedisReader, RedisReadError
from sessioncloud.providers.models import App, Logo
from sessioncloud.providers.outbound import sip_profile
from sessioncloud.provisioning.merge import DEFAULT_PORTS, media_settings, split_domain

CACHE_SECONDS = 24 * 3600
# Unknown ProviderIds are cached too, briefly, so a flood of guesses does not reach the database.
MISSING_CACHE_SECONDS = 30

log = logging.getLogger("sessioncloud.config")


@dataclass(frozen=True)
class RenderedConfig:
    version: str
    body: bytes

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    def document(self) -> dict[str, Any]:
        """The answer as a JSON object (a token redemption embeds it)."""
        return dict(json.loads(self.body))


def logo_json(logo: Logo | None) -> dict[str, Any] | None:
    if logo is None:
        return None
    return {
        "url": f"{settings.PUBLIC_URL}/media/logos/{logo.filename}",
        "width": logo.width,
        "height": logo.height,
    }


def public_config(app: App) -> dict[str, Any]:
    """The config object of docs/phone-api.md, without its version."""
    host, port = split_domain(app.sip_domain)
    return {
        "providerId": app.provider_id,
        "kind": app.kind,
        "name": app.name,
        "branding": {
            "logo": logo_json(app.logo),
            "logoDark": logo_json(app.logo_dark),
            "themeColor": app.theme_color.upper(),
            "contactEmail": app.contact_email or None,
            "helpMenuTitle": app.help_menu_title,
            "helpLinks": [{"title": link["title"], "url": link["url"]} for link in app.help_links],
            "credentialsSource": app.credentials_source,
        },
        "login": {
            "mode": app.provisioning_mode,
            "fields": app.login_fields,
            "usernamePlaceholder": app.username_placeholder or None,
            "passwordPlaceholder": app.password_placeholder or None,
        },
        "sip": {
            "domain": host,
            "port": port or DEFAULT_PORTS[app.sip_transport],
            "proxy": app.sip_proxy or None,
            "transport": app.sip_transport,
            "useSubdomains": app.use_subdomains,
            "srtp": app.srtp,
            "messaging": app.messaging,
            "video": app.video,
            "callrecording": app.callrecording,
            "voicemailNumber": app.voicemail_number or None,
            "registrationExpires": app.registration_expires,
            **media_settings(sip_profile(app)),  # never the TURN credentials: anyone may read this
        },
    }


def config_version(config: dict[str, Any]) -> str:
    """Changes exactly when the content changes, whichever process computes it."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:20]


def with_version(config: dict[str, Any], version: str) -> dict[str, Any]:
    """The config with its version, placed right after the name as documented."""
    items = list(config.items())
    after_name = [key for key, _ in items].index("name") + 1
    return dict([*items[:after_name], ("version", version), *items[after_name:]])


def render_config(app: App) -> RenderedConfig:
    """The one answer of the config endpoint for this App: its bytes and its version."""
    config = public_config(app)
    version = config_version(config)
    body = json.dumps(with_version(config, version), separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )
    return RenderedConfig(version=version, body=body)


# Rendering needs a logo's name and size, never its bytes (up to 1 MB each).
LOGO_BLOBS = ("logo__content", "logo_dark__content")


def load_enabled_app(provider_id: str) -> App | None:
    # An App of an unverified organization is not served: it answers as an unknown one.
    # LOWER(provider_id), exactly the expression of the unique index: `iexact` compiles to
    # UPPER(...) on PostgreSQL, which no index serves (a full scan of every App).
    return (
        App.objects.select_related("logo", "logo_dark")
        .defer(*LOGO_BLOBS)
        .alias(provider_id_lower=Lower("provider_id"))
        .filter(provider_id_lower=provider_id.lower(), enabled=True, organization__verified=True)
        .first()
    )


# --- The cache of rendered answers -----------------------------------------------------------
#
# An entry is the bytes `<version>\n<body>` (or MISSING_MARK for an unknown ProviderId), so a
# hit costs one read and no decoding. Each ProviderId also has a generation counter that every
# save increments: an answer rendered from a row read before a save is stored only if no save
# came in between, so a slow render can never put the old configuration back after a change.

MISSING = "missing"
MISSING_MARK = b"-"
VERSION_BYTES = 20  # config_version() is 20 hex digits
GENERATION_SECONDS = 2 * CACHE_SECONDS
SEEN_SERVED_LIMIT = 10_000  # ProviderIds a process remembers as served when it keeps no entries


class ConfigCache:
    """The cache of rendered answers: in this process, or Redis shared by every process."""

    def __init__(self) -> None:
        # Which ProviderIds this process found served (a config read, a provisioning lookup), so
        # their work gets a queue of its own even when no answer is held in memory: a bounded
        # record, oldest first out; guesses never enter it.
        self._seen_served: dict[str, None] = {}

    def peek(self, key: str) -> bytes | None:
        """The entry for `key` (a ProviderId in lower case) held in this process's memory, found
        without any I/O; None when it is not there."""
        raise NotImplementedError

    def known_served(self, key: str) -> bool:
        """Whether this process has seen `key` (lower case) name an App that is served, known
        without any I/O. The phone pool gives such an App a queue of its own."""
        if key in self._seen_served:
            return True
        entry = self.peek(key)
        return entry is not None and entry != MISSING_MARK

    def remember_served(self, key: str) -> None:
        """`key` (lower case) was found to name an App that is served (see known_served)."""
        seen = self._seen_served
        if key in seen:
            return
        if len(seen) >= SEEN_SERVED_LIMIT:
            try:
                del seen[next(iter(seen))]
            except (StopIteration, KeyError, RuntimeError):  # another thread got there first
                pass
        seen[key] = None

    def forget_served(self, provider_ids: list[str] | None = None) -> None:
        """Forget these ProviderIds were served (every one, with None)."""
        if provider_ids is None:
            self._seen_served.clear()
        for pid in provider_ids or ():
            self._seen_served.pop(pid.lower(), None)

    def read(self, provider_id: str) -> bytes | None:
        raise NotImplementedError

    def generation(self, provider_id: str) -> int:
        raise NotImplementedError

    def store(self, provider_id: str, generation: int, entry: bytes, seconds: int) -> None:
        """Keep `entry` unless a save came after `generation` was read."""
        raise NotImplementedError

    def forget(self, provider_ids: list[str]) -> None:
        raise NotImplementedError

    def forget_everything(self) -> None:
        raise NotImplementedError


def entry_key(provider_id: str) -> str:
    return f"cfg:v2:{provider_id.lower()}"


def generation_key(provider_id: str) -> str:
    return f"cfggen:v2:{provider_id.lower()}"


class LocalConfigCache(ConfigCache):
    """Plain dictionaries in this process (the embedded default: one process serves all).

    Reads take no lock (a dictionary read is atomic in CPython); writers take one, so a store
    and a save's forget are ordered. Entries expire as they would in a shared cache, so an App
    created by another process (a management command) is found within MISSING_CACHE_SECONDS.
    """

    MAX_ENTRIES = 100_000

    def __init__(self) -> None:
        super().__init__()
        self._entries: dict[str, tuple[bytes, float]] = {}  # key -> (entry, expires at)
        self._generations: dict[str, int] = {}
        self._lock = threading.Lock()

    def peek(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None or found[1] <= _monotonic():
            return None
        return found[0]

    def read(self, provider_id: str) -> bytes | None:
        return self.peek(provider_id.lower())

    def generation(self, provider_id: str) -> int:
        return self._generations.get(provider_id.lower(), 0)

    def store(self, provider_id: str, generation: int, entry: bytes, seconds: int) -> None:
        key = provider_id.lower()
        with self._lock:
            if self._generations.get(key, 0) != generation:
                return
            if len(self._entries) >= self.MAX_ENTRIES:
                self._make_room()
            self._entries[key] = (entry, _monotonic() + seconds)

    def _make_room(self) -> None:
        # Unknown ProviderIds go first (a flood of guesses must not push real Apps out).
        now = _monotonic()
        for key, (entry, expires) in list(self._entries.items()):
            if entry == MISSING_MARK or expires <= now:
                del self._entries[key]
        if len(self._entries) >= self.MAX_ENTRIES:
            for key in list(self._entries)[: self.MAX_ENTRIES // 2]:
                del self._entries[key]

    def forget(self, provider_ids: list[str]) -> None:
        self.forget_served(provider_ids)
        with self._lock:
            for key in {pid.lower() for pid in provider_ids}:
                self._generations[key] = self._generations.get(key, 0) + 1
                self._entries.pop(key, None)

    def forget_everything(self) -> None:
        self.forget_served()
        with self._lock:
            for key in self._entries:
                self._generations[key] = self._generations.get(key, 0) + 1
            self._entries.clear()


# Compare the generation and write the entry in one step, in Redis itself.
_STORE_SCRIPT = """
if (redis.call('GET', KEYS[2]) or '0') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
"""


class RedisConfigCache(ConfigCache):
    """Plain Redis strings (no pickling), shared by every app process.

    Reads go through the minimal reader when the URL allows it (about five times cheaper than
    redis-py, see lib/redisread.py); if it fails, redis-py tries once more.

    With a LocalTier (`sessioncloud serve`, CONFIG_LOCAL_TIER), this process also answers entries
    from its own memory while its lease holds; every forget, from any process, waits until no
    process can answer the old entry from memory any more (lib/leases.py has the protocol).
    """

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        reader: RedisReader | None = None,
        *,
        tier: LocalTier | None = None,
        lease_seconds: float = 0.0,
    ):
        self._client = client
        self._prefix = prefix
        self._reader = reader
        self._store = client.register_script(_STORE_SCRIPT)
        db = client.connection_pool.connection_kwargs.get("db", 0)
        self._names = LeaseNames(f"{prefix}:cfgtier:{db}")
        self._tier = tier
        self._lease_seconds = lease_seconds or (tier.lease if tier else DEFAULT_LEASE_SECONDS)
        super().__init__()

    def peek(self, key: str) -> bytes | None:
        tier = self._tier
        if tier is None:
            return None
        if tier.serving():
            return tier.entries.get(key)
        tier.start()  # in this process, once: nothing is answered from memory until it holds a lease
        return None

    def read(self, provider_id: str) -> bytes | None:
        found = self.peek(provider_id.lower())
        if found is not None:
            return found
        tier = self._tier
        if tier is not None and tier.serving():
            return self._read_and_keep(tier, provider_id.lower(), provider_id)
        entry = self._read_shared(provider_id)
        if entry is not None and entry != MISSING_MARK:
            self.remember_served(provider_id.lower())
        return entry

    def _read_and_keep(self, tier: LocalTier, key: str, provider_id: str) -> bytes | None:
        epoch = tier.epoch  # before the read: an invalidation handled meanwhile voids it
        entry = self._read_shared(provider_id)
        if entry is not None and entry != MISSING_MARK:  # unknown ids are not kept: guesses would fill memory
            tier.keep(key, entry, epoch)
        return entry

    def _read_shared(self, provider_id: str) -> bytes | None:
        key = f"{self._prefix}:{entry_key(provider_id)}"
        if self._reader is not None:
            try:
                return self._reader.get(key)
            except RedisReadError:
                pass
        return self._client.get(key)

    def generation(self, provider_id: str) -> int:
        return int(self._client.get(f"{self._prefix}:{generation_key(provider_id)}") or 0)

    def store(self, provider_id: str, generation: int, entry: bytes, seconds: int) -> None:
        keys = [f"{self._prefix}:{entry_key(provider_id)}", f"{self._prefix}:{generation_key(provider_id)}"]
        self._store(keys=keys, args=[str(generation), entry, seconds])
        if entry != MISSING_MARK:
            self.remember_served(provider_id.lower())

    def forget(self, provider_ids: list[str]) -> None:
        # Returns once no app process can still answer the old entry from its memory.
        keys = [
            (f"{self._prefix}:{generation_key(pid)}", f"{self._prefix}:{entry_key(pid)}")
            for pid in provider_ids
        ]
        self.forget_served(provider_ids)
        invalidate(
            self._client,
            self._names,
            keys,
            [pid.lower() for pid in provider_ids],
            self._lease_seconds,
            GENERATION_SECONDS,
        )

    def forget_everything(self) -> None:
        """After the whole cache was cleared: no process may keep anything in memory either."""
        self.forget_served()
        invalidate(self._client, self._names, [], [ALL], self._lease_seconds, GENERATION_SECONDS)


_monotonic = time.monotonic


def _local_tier(redis_url: str, client: redis.Redis, prefix: str, lease_seconds: float) -> LocalTier | None:
    if not settings.CONFIG_LOCAL_TIER:
        return None
    try:
        RedisReader(redis_url)  # the subscription speaks plain RESP, as the reader does
    except ValueError:
        log.warning("config local tier: not with this Redis URL scheme; answering from Redis")
        return None
    db = client.connection_pool.connection_kwargs.get("db", 0)
    tier = LocalTier(redis_url, client, LeaseNames(f"{prefix}:cfgtier:{db}"), lease_seconds)
    atexit.register(tier.stop)  # deregister on a clean exit; a killed process's lease runs out
    return tier


@lru_cache(maxsize=2)
def _config_cache(redis_url: str, prefix: str) -> ConfigCache:
    if not redis_url:
        return LocalConfigCache()
    client = redis_client(redis_url)
    try:
        reader: RedisReader | None = RedisReader(redis_url)
    except ValueError:  # a URL only redis-py understands (TLS...)
        reader = None
    lease_seconds = settings.CONFIG_LEASE_MS / 1000
    return RedisConfigCache(
        client,
        prefix,
        reader,
        tier=_local_tier(redis_url, client, prefix, lease_seconds),
        lease_seconds=lease_seconds,
    )


_current: ConfigCache | None = None


@receiver(setting_changed)
def _forget_current_cache(setting: str, **kwargs: Any) -> None:
    global _current
    if setting in ("REDIS_URL", "CACHES", "CONFIG_LOCAL_TIER", "CONFIG_LEASE_MS"):
        _current = None


def config_cache() -> ConfigCache:
    # Read on every config fetch: the settings are looked at once, and again only if they change.
    global _current
    if _current is None:
        _current = _config_cache(settings.REDIS_URL or "", settings.CACHES["default"].get("KEY_PREFIX", "sc"))
    return _current


def parse_entry(entry: bytes) -> RenderedConfig | str:
    if entry == MISSING_MARK:
        return MISSING
    version, _, body = entry.partition(b"\n")
    return RenderedConfig(version=version.decode("ascii"), body=body)


def cached_config(provider_id: str) -> RenderedConfig | str | None:
    """What the cache holds: a rendering, MISSING, or None when it holds nothing (or is down)."""
    try:
        entry = config_cache().read(provider_id)
    except redis.RedisError as error:
        log.warning("config cache unavailable: %s", error)
        return None
    return parse_entry(entry) if entry else None


def get_rendered_config(provider_id: str) -> RenderedConfig | None:
    """The cached rendering for an enabled App, or None (unknown and disabled look the same)."""
    found = cached_config(provider_id)
    if isinstance(found, RenderedConfig):
        return found
    if found == MISSING:
        return None
    return render_and_store(provider_id)


def render_and_store(provider_id: str) -> RenderedConfig | None:
    store = config_cache()
    try:
        generation = store.generation(provider_id)
    except redis.RedisError:
        generation = None  # the cache is down: answer from the database, keep nothing
    app = load_enabled_app(provider_id)
    rendered = render_config(app) if app is not None else None
    if generation is not None:
        entry = MISSING_MARK if rendered is None else rendered.version.encode("ascii") + b"\n" + rendered.body
        try:
            store.store(provider_id, generation, entry, CACHE_SECONDS if rendered else MISSING_CACHE_SECONDS)
        except redis.RedisError as error:
            log.warning("config cache unavailable: %s", error)
    return rendered


def forget_config(*provider_ids: str) -> None:
    names = [pid for pid in provider_ids if pid]
    if names:
        config_cache().forget(names)


def forget_every_config() -> None:
    """The cache was cleared: make every process forget its copies of configs too."""
    config_cache().forget_everything()
