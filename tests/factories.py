"""Objects tests build again and again."""

from __future__ import annotations

from typing import Any

from sessioncloud.accounts.models import Organization
from sessioncloud.providers.models import App, EndUser


def make_app(organization: Organization, provider_id: str = "AcmeInc", **values: Any) -> App:
    defaults: dict[str, Any] = {
        "name": "Acme Telecom",
        "sip_domain": "sip.acme.example",
        "sip_transport": "TLS",
        "theme_color": "#0A7CFF",
        "contact_email": "support@acme.example",
    }
    defaults.update(values)
    app = App(organization=organization, provider_id=provider_id, **defaults)
    app.full_clean()
    app.save()
    return app


def make_end_user(app: App, external_id: str, **values: Any) -> EndUser:
    defaults: dict[str, Any] = {
        "display_name": external_id.title(),
        "sip_username": "2001",
        "sip_password": f"{external_id}-secret",
    }
    defaults.update(values)
    return EndUser.objects.create(app=app, external_id=external_id, **defaults)


# The NAT and media keys of a merged account whose App keeps every default.
MEDIA_DEFAULTS: dict[str, Any] = {
    "stunServer": None,
    "turnServer": None,
    "turnUsername": None,
    "turnPassword": None,
    "ice": False,
    "keepAliveSeconds": 30,
    "srtpMode": "optional",
    "audioCodecs": [],
    "videoCodecs": [],
    "dtmfMode": "rfc2833",
    "realm": None,
}
# The same keys in the public config's `sip` section, which never carries TURN credentials.
CONFIG_MEDIA_DEFAULTS: dict[str, Any] = {
    "stunServer": None,
    "turnServer": None,
    "ice": False,
    "keepAliveSeconds": 30,
    "srtpMode": "optional",
    "audioCodecs": [],
    "videoCodecs": [],
    "dtmfMode": "rfc2833",
    "realm": None,
}


def migration_module(package: str, name: str) -> Any:
    """A migration's module by its name without the number, which merges may change."""
    import importlib
    from pathlib import Path

    folder = Path(importlib.import_module(package).__file__ or "").parent
    [found] = [path.stem for path in folder.glob(f"[0-9][0-9][0-9][0-9]_{name}.py")]
    return importlib.import_module(f"{package}.{found}")
