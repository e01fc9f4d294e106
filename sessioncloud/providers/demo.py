"""The demo organization a new user can click through at once (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction

from sessioncloud.accounts.models import Membership, Organization, Role
from sessioncloud.providers.models import App, EndUser, Kind, ProvisioningMode

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - the published demo login
DEMO_PROVIDER_URL = "http://127.0.0.1:8001/provisioning"


@dataclass(frozen=True)
class DemoApp:
    provider_id: str
    values: dict


DEMO_APPS = (
    DemoApp(
        "DemoGeneric",
        {
            "name": "Demo Telecom",
            "kind": Kind.GENERIC,
            "theme_color": "#0A7CFF",
            "contact_email": "support@demo.example",
            "help_menu_title": "Help",
            "help_links": [
                {"title": "Getting started", "url": "https://demo.example/start"},
                {"title": "My account", "url": "https://demo.example/account?u=%user%&p=%pwd%"},
            ],
            "sip_domain": "sip.demo.example:5060",
            "sip_transport": "UDP",
            "use_subdomains": True,
            "voicemail_number": "*97",
        },
    ),
    DemoApp(
        "DemoWhitelabel",
        {
            "name": "Demo Whitelabel",
            "kind": Kind.WHITELABEL,
            "ios_bundle_id": "com.demo.phone",
            "android_package": "com.demo.phone",
            "theme_color": "#7A1FA2",
            "contact_email": "help@whitelabel.example",
            "username_placeholder": "Account No",
            "password_placeholder": "PIN",
            "sip_domain": "sip.whitelabel.example",
            "sip_transport": "TLS",
            "srtp": "Enabled",
        },
    ),
    DemoApp(
        "DemoExternal",
        {
            "name": "Demo External",
            "kind": Kind.GENERIC,
            "theme_color": "#008A5E",
            "contact_email": "noc@external.example",
            "sip_domain": "sip.external.example:5080",
            "sip_transport": "TCP",
            "provisioning_mode": ProvisioningMode.EXTERNAL,
            "provisioning_url": DEMO_PROVIDER_URL,
            "provisioning_timeout": 5,
        },
    ),
)

DEMO_END_USERS = (
    (
        "DemoGeneric",
        "alice",
        {
            "display_name": "Alice Example",
            "email": "alice@demo.example",
            "sip_username": "2001",
            "sip_password": "alice-sip-secret",
            "subdomain": "pbx1",
        },
    ),
    (
        "DemoGeneric",
        "bob",
        {
            "display_name": "Bob Example",
            "email": "bob@demo.example",
            "sip_username": "2002",
            "sip_password": "bob-sip-secret",
        },
    ),
    (
        "DemoExternal",
        "u1000",
        {
            "display_name": "User 1000",
            "email": "u1000@external.example",
            "provisioning_username": "1000",
            "provisioning_password": "1234",
        },
    ),
)


@transaction.atomic
def seed_demo() -> Organization:
    org, _ = Organization.objects.get_or_create(slug="demo", defaults={"name": "Demo Organization"})
    user = _demo_user()
    Membership.objects.get_or_create(organization=org, user=user, defaults={"role": Role.OWNER})
    apps = {}
    for demo in DEMO_APPS:
        app = App.objects.filter(provider_id__iexact=demo.provider_id).first()
        if app is None:
            app = App(organization=org, provider_id=demo.provider_id, **demo.values)
            app.full_clean()
            app.save()
        apps[demo.provider_id] = app
    for provider_id, external_id, values in DEMO_END_USERS:
        EndUser.objects.get_or_create(app=apps[provider_id], external_id=external_id, defaults=values)
    return org


def _demo_user() -> User:
    from allauth.account.models import EmailAddress

    user = User.objects.filter(email__iexact=DEMO_EMAIL).first()
    if user is None:
        user = User.objects.create_user(username="demo", email=DEMO_EMAIL, password=DEMO_PASSWORD)
    EmailAddress.objects.get_or_create(
        user=user, email=DEMO_EMAIL, defaults={"verified": True, "primary": True}
    )
    return user
