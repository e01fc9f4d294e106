"""The public configuration a phone fetches for a ProviderId, rendered once and cached.

Phones fetch it on every start, so the answer is kept as ready-made bytes with its ETag in the
shared cache. Every save of an App deletes its entry (see signals.py); the next request renders
it again, so every app process sees a change on its next request.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from sessioncloud.providers.models import App, Logo
from sessioncloud.provisioning.merge import DEFAULT_PORTS, split_domain

CACHE_SECONDS = 24 * 3600
# Unknown ProviderIds are cached too, briefly, so a flood of guesses does not reach the database.
MISSING_CACHE_SECONDS = 30
_MISSING = "missing"


@dataclass(frozen=True)
class RenderedConfig:
    version: str
    body: bytes

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


def cache_key(provider_id: str) -> str:
    return f"cfg:v1:{provider_id.lower()}"


def logo_json(logo: Logo | None) -> dict[str, Any] | None:
    if logo is None:
        return None
    return {
        "url": f"{settings.PUBLIC_URL}/media/logos/{logo.filename}",
        "width": logo.width,
        "height": logo.height,
    }


def public_config(app: App) -> dict[str, Any]:
    """The SPEC 5.1 object without its version."""
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
        },
    }


def config_version(config: dict[str, Any]) -> str:
    """Changes exactly when the content changes, whichever process computes it."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:20]


def config_with_version(app: App) -> dict[str, Any]:
    config = public_config(app)
    version = config_version(config)
    # Keep the documented key order: version right after name.
    ordered = {k: config[k] for k in ("providerId", "kind", "name")}
    ordered["version"] = version
    ordered.update({k: config[k] for k in ("branding", "login", "sip")})
    return ordered


def render_config(app: App) -> RenderedConfig:
    config = config_with_version(app)
    body = json.dumps(config, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return RenderedConfig(version=config["version"], body=body)


def load_enabled_app(provider_id: str) -> App | None:
    return (
        App.objects.select_related("logo", "logo_dark")
        .filter(provider_id__iexact=provider_id, enabled=True)
        .first()
    )


def get_rendered_config(provider_id: str) -> RenderedConfig | None:
    """The cached rendering for an enabled App, or None (unknown and disabled look the same)."""
    key = cache_key(provider_id)
    cached = cache.get(key)
    if cached == _MISSING:
        return None
    if cached is not None:
        return RenderedConfig(version=cached[0], body=cached[1])
    app = load_enabled_app(provider_id)
    if app is None:
        cache.set(key, _MISSING, MISSING_CACHE_SECONDS)
        return None
    rendered = render_config(app)
    cache.set(key, (rendered.version, rendered.body), CACHE_SECONDS)
    return rendered


def forget_config(*provider_ids: str) -> None:
    cache.delete_many([cache_key(pid) for pid in provider_ids if pid])
