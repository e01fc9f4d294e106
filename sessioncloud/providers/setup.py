"""What an end user is told to install, and the addresses that set the phone up (docs/linphone.md).

One place for the rule, used by the setup page, the setup e-mail, the printed cards and the
portal: an App names the app its users install (Linphone unless it says Sessiontalk), and its
store links default to Linphone's own when it uses Linphone.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from sessioncloud.codes.formats import encode_token
from sessioncloud.providers import linphone
from sessioncloud.providers.models import App, Kind, PhoneApp
from sessioncloud.provisioning.linphone import linphone_link

LINPHONE_NAME = "Linphone"
LINPHONE_STORES = {
    "ios": "https://apps.apple.com/app/linphone/id360065638",
    "android": "https://play.google.com/store/apps/details?id=org.linphone",
    "desktop": "https://www.linphone.org/",
}
SESSIONTALK_NAME = "Sessiontalk"


@dataclass(frozen=True)
class PhoneAppInfo:
    """The app to install: its name, whether it is Linphone, and a link per platform (or None)."""

    name: str
    linphone: bool
    ios: str | None
    android: str | None
    desktop: str | None

    @property
    def stores(self) -> list[tuple[str, str]]:
        """(platform label, link) of every platform with a link, in the order the page lists them."""
        labelled = (
            ("iPhone and iPad (App Store)", self.ios),
            ("Android (Google Play)", self.android),
            ("Windows, macOS and Linux", self.desktop),
        )
        return [(label, link) for label, link in labelled if link]


def phone_app_info(app: App) -> PhoneAppInfo:
    linphone = app.phone_app == PhoneApp.LINPHONE
    defaults = LINPHONE_STORES if linphone else {}
    return PhoneAppInfo(
        name=app.phone_app_name or _default_name(app),
        linphone=linphone,
        ios=app.ios_store_url or defaults.get("ios"),
        android=app.android_store_url or defaults.get("android"),
        desktop=app.desktop_download_url or defaults.get("desktop"),
    )


def _default_name(app: App) -> str:
    if app.phone_app == PhoneApp.LINPHONE:
        return LINPHONE_NAME
    # A whitelabel Sessiontalk app is the provider's own brand; a generic one is Sessiontalk's.
    return app.name if app.kind == Kind.WHITELABEL else SESSIONTALK_NAME


def setup_page_url(plain_token: str) -> str:
    """The page a setup e-mail and a printed card point to; opening it uses nothing up."""
    return f"{settings.PUBLIC_URL}/setup/{plain_token}"


@dataclass(frozen=True)
class SetupCodes:
    """The ways one setup token reaches a phone.

    Linphone scans the plain https address of its remote provisioning (its in-app scanner takes
    no other form) and opens `linphone-config:` links; a Sessiontalk app takes the
    `scloc:?v=2&token=` code either way. Neither is ever sent as a link in an e-mail: e-mails
    carry the setup page.
    """

    page: str  # the setup page (docs/linphone.md)
    open_link: str  # "open in the app"
    qr: str  # what the QR code on the page and the printed card carries


def setup_codes(app: App, plain_token: str) -> SetupCodes:
    if app.phone_app == PhoneApp.LINPHONE:
        address = linphone.enduser_url(plain_token)
        return SetupCodes(setup_page_url(plain_token), linphone_link(address), address)
    code = encode_token(plain_token)
    return SetupCodes(setup_page_url(plain_token), code, code)
