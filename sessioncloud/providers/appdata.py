"""App <-> the JSON body of the management API, in one table both directions use."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from sessioncloud.providers.config import config_version, public_config
from sessioncloud.providers.linphone import app_url as linphone_app_url
from sessioncloud.providers.models import App

# JSON path in the App body -> model field. Read and write go through this one table.
FIELD_PATHS: dict[str, str] = {
    "providerId": "provider_id",
    "name": "name",
    "kind": "kind",
    "enabled": "enabled",
    "bundleIds.ios": "ios_bundle_id",
    "bundleIds.android": "android_package",
    "branding.themeColor": "theme_color",
    "branding.contactEmail": "contact_email",
    "branding.helpMenuTitle": "help_menu_title",
    "branding.helpLinks": "help_links",
    "branding.credentialsSource": "credentials_source",
    "login.fields": "login_fields",
    "login.usernamePlaceholder": "username_placeholder",
    "login.passwordPlaceholder": "password_placeholder",
    "sip.domain": "sip_domain",
    "sip.proxy": "sip_proxy",
    "sip.transport": "sip_transport",
    "sip.useSubdomains": "use_subdomains",
    "sip.srtp": "srtp",
    "sip.messaging": "messaging",
    "sip.video": "video",
    "sip.callrecording": "callrecording",
    "sip.voicemailNumber": "voicemail_number",
    "sip.registrationExpires": "registration_expires",
    "sip.stunServer": "stun_server",
    "sip.turnServer": "turn_server",
    "sip.turnUsername": "turn_username",
    "sip.turnPassword": "turn_password",
    "sip.ice": "ice_enabled",
    "sip.keepAliveSeconds": "keepalive_seconds",
    "sip.srtpMode": "srtp_mode",
    "sip.audioCodecs": "audio_codecs",
    "sip.videoCodecs": "video_codecs",
    "sip.dtmfMode": "dtmf_mode",
    "sip.realm": "sip_realm",
    "setupPage.phoneApp": "phone_app",
    "setupPage.appName": "phone_app_name",
    "setupPage.storeLinks.ios": "ios_store_url",
    "setupPage.storeLinks.android": "android_store_url",
    "setupPage.storeLinks.desktop": "desktop_download_url",
    "provisioning.mode": "provisioning_mode",
    "provisioning.url": "provisioning_url",
    "provisioning.authHeader": "provisioning_auth_header",
    "provisioning.timeoutSeconds": "provisioning_timeout",
    "provisioning.tokenTtlHours": "token_ttl_hours",
    # The same settings are reachable under the names the phone config uses.
    "login.mode": "provisioning_mode",
    "provisioning.usernamePlaceholder": "username_placeholder",
    "provisioning.passwordPlaceholder": "password_placeholder",
}
PATH_OF_FIELD = {field: path for path, field in reversed(FIELD_PATHS.items())}
SECRET_FIELDS = {"provisioning_auth_header", "signing_secrets", "turn_password"}
NULLABLE_TEXT = {
    "ios_bundle_id",
    "android_package",
    "contact_email",
    "username_placeholder",
    "password_placeholder",
    "sip_proxy",
    "voicemail_number",
    "provisioning_url",
    "provisioning_auth_header",
    "phone_app_name",
    "ios_store_url",
    "android_store_url",
    "desktop_download_url",
    "stun_server",
    "turn_server",
    "turn_username",
    "turn_password",
    "sip_realm",
}
REQUIRED_ON_CREATE = ("providerId", "name", "sip.domain")


def flatten(body: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"sip": {"domain": x}} -> {"sip.domain": x}; lists and leaves stay whole."""
    flat: dict[str, Any] = {}
    for key, value in body.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and any(p.startswith(path + ".") for p in FIELD_PATHS):
            flat.update(flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def apply_body(app: App, body: dict[str, Any]) -> list[str]:
    """Set the model fields the body names; returns the field names that changed."""
    changed = []
    for path, value in flatten(body).items():
        field = FIELD_PATHS.get(path)
        if field is None:
            continue  # read-only keys (logo, port, configVersion...) are accepted and ignored
        if value is None and field in NULLABLE_TEXT:
            value = ""
        if value is None:
            continue
        if getattr(app, field) != value:
            setattr(app, field, value)
            changed.append(field)
    return changed


def missing_on_create(body: dict[str, Any]) -> dict[str, str]:
    flat = flatten(body)
    return {path: "This field is required." for path in REQUIRED_ON_CREATE if flat.get(path) in (None, "")}


def field_errors(error: ValidationError) -> dict[str, str]:
    """A model ValidationError as {"json.path": "message"}."""
    fields = {}
    for field, messages in error.message_dict.items():
        path = PATH_OF_FIELD.get(field, field if field != "__all__" else "body")
        fields[path] = messages[0]
    return fields


def app_json(app: App) -> dict[str, Any]:
    """The management view of an App: the body shape, secrets shown only as set or not."""
    config = public_config(app)
    branding = dict(config["branding"])
    sip = dict(config["sip"])
    sip["domain"] = app.sip_domain
    sip.pop("port")
    sip["turnUsername"] = app.turn_username or None
    sip["turnPasswordSet"] = bool(app.turn_password)
    return {
        "providerId": app.provider_id,
        "name": app.name,
        "kind": app.kind,
        "enabled": app.enabled,
        "bundleIds": {"ios": app.ios_bundle_id or None, "android": app.android_package or None},
        "branding": branding,
        "login": {k: v for k, v in config["login"].items() if k != "mode"},
        "sip": sip,
        "setupPage": {
            "phoneApp": app.phone_app,
            "appName": app.phone_app_name or None,
            "storeLinks": {
                "ios": app.ios_store_url or None,
                "android": app.android_store_url or None,
                "desktop": app.desktop_download_url or None,
            },
            "linphoneUrl": linphone_app_url(app),
        },
        "provisioning": {
            "mode": app.provisioning_mode,
            "url": app.provisioning_url or None,
            "authHeaderSet": bool(app.provisioning_auth_header),
            "timeoutSeconds": app.provisioning_timeout,
            "tokenTtlHours": app.token_ttl_hours,
        },
        "configVersion": config_version(config),
        "created": app.created.isoformat(),
        "updated": app.updated.isoformat(),
    }


def audit_snapshot(app: App) -> dict[str, Any]:
    """What the audit log keeps of an App: every setting, secrets masked."""
    snapshot = {}
    for path, field in FIELD_PATHS.items():
        if PATH_OF_FIELD[field] != path:
            continue
        value = getattr(app, field)
        snapshot[path] = ("***" if value else "") if field in SECRET_FIELDS else value
    snapshot["branding.logo"] = app.logo_id
    snapshot["branding.logoDark"] = app.logo_dark_id
    return snapshot
