"""The documents the reference phone's tests hand it, as SessionCloud answers them: Acme
Telecom's config and the accounts its provisioning delivers."""

from __future__ import annotations

from typing import Any

ACME_SIP: dict[str, Any] = {
    "domain": "sip.acme.example",
    "port": 5061,
    "proxy": None,
    "transport": "TLS",
    "useSubdomains": False,
    "srtp": "Disabled",
    "messaging": "Enabled",
    "video": "Disabled",
    "callrecording": "Disabled",
    "voicemailNumber": None,
    "registrationExpires": 600,
}


def acme_config(mode: str = "portal", *, sip: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """Acme's config in login mode `mode`; `sip` changes SIP settings, `fields` top-level ones."""
    return {
        "providerId": "AcmeInc",
        "kind": "generic",
        "name": "Acme Telecom",
        "version": "v1",
        "branding": {},
        "login": {"mode": mode, "fields": "username_password"},
        "sip": {**ACME_SIP, **(sip or {})},
        **fields,
    }


def acme_account(username: str, password: str, display_name: str | None = None) -> dict[str, Any]:
    """One SIP account as provisioning delivers it, merged with Acme's SIP settings."""
    return {
        "sipusername": username,
        "sippassword": password,
        "authusername": username,
        "displayname": display_name or username,
        "domain": ACME_SIP["domain"],
        "port": ACME_SIP["port"],
        "proxy": None,
        "transport": ACME_SIP["transport"],
        "srtp": "Disabled",
        "messaging": "Enabled",
        "video": "Disabled",
        "callrecording": "Disabled",
        "subdomain": None,
        "voicemailNumber": None,
        "registrationExpires": 600,
    }
