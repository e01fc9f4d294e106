"""A new provider's first hour in the portal, in a real browser, and a rival who sees none of it.

One test walks the whole way, because each step needs the one before (an account before 2FA,
an App before its end users...). Screenshots of the main pages go to tests/artifacts/screenshots/.
"""

from __future__ import annotations

import io
import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from allauth.mfa.totp.internal.auth import (
    format_hotp_value,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.core import mail
from PIL import Image

from sessioncloud.codes.qr import decode_image
from tests.providerstub import ProviderStub

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "walk-through-passphrase-42"
GOOD_ANSWER = {
    "update": True,
    "errmsg": "",
    "sipaccounts": [
        {"sipusername": "1000", "sippassword": "sip-pw-1000", "subdomain": "pbx1", "transport": "udp"}
    ],
}
BAD_ANSWER = {"update": True, "sipaccounts": [{"sippassword": "no username"}]}
ORANGE = "rgb(255, 102, 0)"


class Portal:
    """One browser tab on the live server; it collects every console error and page error."""

    def __init__(self, context: Any, base: str, shots: Path):
        self.page = context.new_page()
        self.base, self.shots = base, shots
        self.width = self.page.viewport_size["width"]
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(str(error)))
        self.page.on(
            "response",
            lambda answer: (
                self.problems.append(f"{answer.status} {answer.url}") if answer.status >= 400 else None
            ),
        )

    def _console(self, message: Any) -> None:
        # A failed load is reported (with its address) by the response handler above.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(message.text)

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def submit(self, form: str = "main form[method=post]") -> None:
        with self.page.expect_navigation():
            self.page.locator(form).locator("button[type=submit]").first.click()

    def shoot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}-{self.width}.png"), full_page=True)

    def click_through(self, selector: str) -> None:
        with self.page.expect_navigation():
            self.page.click(selector)

    def consequences(self) -> list[str]:
        return [text.strip() for text in self.page.locator("#consequences li").all_text_contents()]

    def sideways_scroll(self) -> int:
        """How far the page scrolls sideways (0 when it fits the window)."""
        return self.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )

    def rows_of(self, selector: str) -> int:
        """On how many lines the visible elements matching the selector sit (by their middles)."""
        middles = sorted(
            self.page.evaluate(
                """selector => [...document.querySelectorAll(selector)]
            .filter(e => e.offsetParent !== null)
            .map(e => { const r = e.getBoundingClientRect(); return r.top + r.height / 2; })""",
                selector,
            )
        )
        return sum(
            1 for before, after in zip([-100.0, *middles], middles, strict=False) if after - before > 12
        )

    def box(self, selector: str) -> dict[str, float]:
        return self.page.locator(selector).first.bounding_box()

    def messages(self) -> list[str]:
        return [text.strip() for text in self.page.locator(".messages li").all_text_contents()]

    def decode(self, selector: str) -> str:
        """The text of the QR code as the browser shows it (a screenshot of the element)."""
        return decode_image(self.page.locator(selector).screenshot())


def check_setup_page(setup: Portal, linphone_url: str) -> None:
    page = setup.page
    assert page.inner_text("h1") == "Set up Walk Phone on your phone"
    assert page.inner_text("#install h2") == "Install Linphone"
    assert page.get_attribute("#open-in-app", "href") == f"linphone-config:{linphone_url}"
    assert setup.decode("#setup-qr") == linphone_url


def last_mail_link(pattern: str) -> str:
    return re.search(pattern, mail.outbox[-1].body).group(0)


def totp_now(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, next(iter(yield_hotp_counters_from_time()))))


def logo_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 32), (255, 102, 0)).save(buffer, "PNG")
    return buffer.getvalue()


def sign_up(portal: Portal, email: str, organization: str, provider_id: str) -> None:
    portal.go("/accounts/signup/")
    page = portal.page
    page.fill("#id_email", email)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.fill("#id_organization", organization)
    page.fill("#id_provider_id", provider_id)
    page.fill("#id_app_name", f"{organization} Phone")
    page.fill("#id_sip_domain", f"sip.{provider_id.lower()}.example")
    portal.submit()
    assert page.url.endswith("/accounts/confirm-email/")
    # The verification e-mail's link, followed as the user would.
    page.goto(last_mail_link(r"http://\S+/accounts/confirm-email/\S+/"))
    portal.submit("main form")
    assert page.url == portal.base + "/portal/"


def enable_two_factor(portal: Portal) -> list[str]:
    page = portal.page
    portal.go("/accounts/2fa/totp/activate/")
    assert "/accounts/reauthenticate/" in page.url  # a settings change asks for the password again
    page.fill("#id_password", PASSWORD)
    portal.submit("main form")
    secret = page.input_value("#authenticator_secret")
    page.fill("#id_code", totp_now(secret))
    portal.submit("main form")
    assert page.url == portal.base + "/accounts/2fa/recovery-codes/"
    return page.input_value("#recovery_codes").split()


def log_in(portal: Portal, email: str, recovery_code: str) -> None:
    page = portal.page
    portal.go("/accounts/login/")
    page.fill("#id_login", email)
    page.fill("#id_password", PASSWORD)
    portal.submit()
    assert page.url == portal.base + "/accounts/2fa/authenticate/"
    page.fill("#id_code", recovery_code)
    portal.submit("main form")
    assert page.url == portal.base + "/portal/"


def test_a_new_provider_sets_up_an_app_and_its_users_and_a_rival_sees_none_of_it(
    browser, live_server, provider: ProviderStub, screenshots: Path
):
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Europe/Berlin")
    portal = Portal(context, base, screenshots)
    page = portal.page

    # Sign up, verify the address, turn on two-factor login and use it.
    sign_up(portal, "ann@walk.example", "Walk Telecom", "WalkFirst")
    recovery_codes = enable_two_factor(portal)
    portal.submit(".usernav-logout")
    log_in(portal, "ann@walk.example", recovery_codes[0])
    assert "WalkFirst" in page.inner_text("main")

    # Create an App.
    portal.shoot("apps")
    page.click("text=New App")
    page.fill("#id_provider_id", "WalkPhone")
    page.fill("#id_name", "Walk Phone")
    page.fill("#id_sip_domain", "sip.walk.example")
    portal.submit()
    assert page.url == base + "/portal/apps/WalkPhone/general/"
    assert portal.messages() == ["Created the App WalkPhone."]

    # Branding: the preview follows the typing before anything is saved.
    portal.go("/portal/apps/WalkPhone/branding/")
    assert page.inner_text("nav.crumbs") == "Apps / Walk Phone"
    call_button = page.locator("#preview .phone:not(.dark) .phone-call")
    assert call_button.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(10, 124, 255)"
    page.fill("#id_theme_color", "#FF6600")
    assert call_button.evaluate("e => getComputedStyle(e).backgroundColor") == ORANGE
    page.fill("#id_help_menu_title", "Walk support")
    page.fill("#id_link_title_1", "Billing")
    page.fill("#id_link_url_1", "https://billing.walk.example/?u=%user%")
    assert page.locator("#preview .pv-help-title").all_text_contents() == ["Walk support", "Walk support"]
    assert page.locator("#preview .phone:not(.dark) .pv-links li").all_text_contents() == ["Billing"]
    page.set_input_files(
        "#id_logo_file", files=[{"name": "logo.png", "mimeType": "image/png", "buffer": logo_png()}]
    )
    # The chosen file is read by the browser before the image has a size, so wait for it.
    chosen_logo = page.locator("#preview .phone:not(.dark) .pv-logo")
    chosen_logo.wait_for(state="visible", timeout=5000)
    assert chosen_logo.evaluate("e => e.naturalWidth") > 0
    portal.shoot("branding-preview")
    portal.submit("#branding-form")
    assert portal.messages() == ["Your changes are saved."]
    logo_url = page.get_attribute("#current-logo", "src")
    assert re.fullmatch(r"/media/logos/[0-9a-f]{64}\.png", logo_url)
    assert page.request.get(base + logo_url).status == 200
    assert call_button.evaluate("e => getComputedStyle(e).backgroundColor") == ORANGE

    # SIP profile.
    portal.go("/portal/apps/WalkPhone/sip/")
    page.fill("#id_sip_domain", "sip.walk.example:5080")
    page.select_option("#id_sip_transport", "TCP")
    page.check("#id_use_subdomains")
    portal.submit()
    assert portal.messages() == ["Your changes are saved."]

    # External provisioning through the provider's service on loopback, tried on the test bench.
    portal.go("/portal/apps/WalkPhone/provisioning/")
    page.check("input[name=provisioning_mode][value=external]")
    page.fill("#id_provisioning_url", provider.url())
    portal.submit("main form.card")
    assert portal.messages() == ["Your changes are saved."]
    page.click("nav.tabs >> text=Test bench")
    # Every App tab on one row at this width.
    assert portal.box("nav.tabs >> text=Test bench")["y"] == portal.box("nav.tabs >> text=Dashboard")["y"]
    provider.answer_json(BAD_ANSWER)
    page.fill("#id_username", "1000")
    page.fill("#id_password", "1234")
    portal.submit()
    assert page.inner_text("#bench-outcome") == "failed"
    assert page.inner_text("#bench-error-code") == "provider_bad_response"
    assert "sipaccounts[0].sipusername: missing" in page.inner_text("#bench-errors")
    provider.answer_json(GOOD_ANSWER)
    page.fill("#id_username", "1000")
    page.fill("#id_password", "1234")
    portal.submit()
    merged = json.loads(page.inner_text("#bench-merged"))
    assert [(a["sipusername"], a["domain"], a["port"], a["transport"]) for a in merged["sipaccounts"]] == [
        ("1000", "pbx1.sip.walk.example", 5080, "UDP")
    ]
    assert "password=***" in page.inner_text("#bench-request")
    portal.shoot("test-bench")

    # An end user, its QR codes, and a one-time setup link.
    page.click("nav.tabs >> text=End users")
    page.click("text=Add the first end user")
    for field, value in (
        ("external_id", "walk-1"),
        ("display_name", "Wanda Walker"),
        ("email", "wanda@walk.example"),
        ("sip_username", "2001"),
        ("sip_password", "sip-s3cret"),
        ("provisioning_username", "wanda"),
        ("provisioning_password", "1234"),
    ):
        page.fill(f"#id_{field}", value)
    portal.shoot("end-user-form")
    portal.submit()
    assert page.url == base + "/portal/apps/WalkPhone/endusers/walk-1/"
    assert page.locator("#code-local").count() == 0  # a code carries the password: shown on request only
    portal.submit("#codes form")
    local = page.inner_text("#code-local")
    assert local.startswith("scloc:WalkPhone|")
    assert portal.decode("#qr-local") == local
    assert portal.decode("#qr-external") == page.inner_text("#code-external") == "scsc:wanda:1234:WalkPhone"
    assert page.locator("text=This code carries the password.").count() == 2
    assert page.locator("button[data-copy=code-local]").is_visible()  # the script's enhancement
    portal.shoot("end-user-codes")
    page.select_option("#id_max_uses", "2")
    portal.submit("#setup-link form >> nth=0")
    code = page.inner_text("#issued-code")
    assert re.fullmatch(r"scloc:\?v=2&token=[A-Za-z0-9_-]{32}", code)
    assert portal.decode("#issued-qr") == code
    assert page.get_attribute("#issued-qr", "src").startswith("data:image/png;base64,")
    portal.shoot("setup-link")
    token = code.split("token=")[1]
    linphone_url = page.inner_text("#issued-linphone-url")
    assert linphone_url.endswith(f"/api/v1/linphone/{token}")
    assert portal.decode("#issued-linphone-qr") == linphone_url

    # The end user's setup page, on a laptop and on a phone without JavaScript; it uses nothing up.
    setup = Portal(context, base, screenshots)
    setup.go(f"/setup/{token}")
    check_setup_page(setup, linphone_url)
    setup.shoot("setup-page")
    phone_context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    on_phone = Portal(phone_context, base, screenshots)
    on_phone.go(f"/setup/{token}")
    check_setup_page(on_phone, linphone_url)
    assert (
        on_phone.page.evaluate("document.documentElement.scrollWidth") <= 390
    )  # nothing wider than the phone
    on_phone.shoot("setup-page")
    assert setup.problems == on_phone.problems == []
    phone_context.close()

    # A phone redeems it (through the provider's service: the user has provisioning credentials).
    redeemed = phone_redeems(base, code.split("token=")[1], "walk-phone-1")
    assert [a["sipusername"] for a in redeemed["sipaccounts"]] == ["1000"]
    page.click("nav.tabs >> text=Setup tokens")
    assert "1 of 2" in page.inner_text("main table")
    assert "walk-phone-1" in page.inner_text("main table")
    portal.shoot("setup-tokens")

    page.click("nav.tabs >> text=End users")
    portal.shoot("end-users")

    # Send one by e-mail too.
    portal.go("/portal/apps/WalkPhone/endusers/walk-1/")
    portal.submit("form[action$='/email/']")
    assert portal.messages() == ["Sent a setup e-mail with a new one-time setup link to wanda@walk.example."]
    assert (mail.outbox[-1].to, mail.outbox[-1].from_email) == (
        ["wanda@walk.example"],
        "Walk Phone <noreply@sessioncloud.invalid>",
    )

    # The device ledger: deactivate the phone; its next call is told to remove its accounts.
    page.click("nav.tabs >> text=Devices")
    assert "walk-phone-1" in page.inner_text("main table")
    with page.expect_navigation():
        page.click("main table >> text=Deactivate")
    assert page.inner_text("#confirm-title") == "Deactivate the device walk-phone-1?"
    portal.shoot("device-deactivate-confirm")
    portal.submit()
    assert "deactivated" in page.inner_text("main table")
    portal.shoot("devices")
    assert phone_provisions(base, "walk-phone-1")["errmsg"] == "This device was deactivated by your provider."

    page.click("nav.tabs >> text=Provisioning log")
    page.select_option("#id_outcome", "deactivated")
    portal.submit("main form.filter-form")
    assert page.locator("main table.log tbody tr").count() == 1
    portal.go("/portal/apps/WalkPhone/log/")
    portal.shoot("provisioning-log")
    page.click("nav.tabs >> text=Dashboard")
    assert page.inner_text("#total-end-users") == "1"
    assert page.inner_text("#total-devices-deactivated") == "1"
    assert page.inner_text("#chart-calls") == "2"  # the redemption and the deactivated call
    portal.shoot("dashboard")

    for name, page_path in (
        ("team", "team/"),
        ("general", "apps/WalkPhone/general/"),
        ("sip-profile", "apps/WalkPhone/sip/"),
        ("provisioning", "apps/WalkPhone/provisioning/"),
        ("bulk", "apps/WalkPhone/bulk/"),
    ):
        portal.go(f"/portal/{page_path}")
        portal.shoot(name)

    # A new API key can be copied; revoking it asks first.
    portal.go("/portal/api-keys/")
    page.fill("#id_name", "Billing system")
    portal.submit()
    assert page.locator("button[data-copy=new-key]").is_visible()
    portal.shoot("api-key-new")
    portal.click_through("main table >> text=Revoke")
    assert portal.consequences()[1] == "Programs that use it stop working: give them a new key first."
    portal.shoot("api-key-revoke-confirm")
    portal.submit()
    assert "Revoked" in page.inner_text("main table")

    # The audit log: sentences, in the browser's time zone, filtered by what happened.
    portal.go("/portal/audit/")
    assert "When (Europe/Berlin)" in page.text_content("#audit-entries thead")
    assert "Revoked the API key Billing system" in page.inner_text("#audit-entries")
    page.select_option("#id_action", "device.deactivate")
    portal.submit("main form.filter-form")
    assert page.locator("#audit-entries .sentence").all_text_contents() == [
        "Deactivated the device walk-phone-1."
    ]
    portal.shoot("audit-log")

    # Without JavaScript every form still works.
    quiet = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    plain = Portal(quiet, base, screenshots)
    log_in(plain, "ann@walk.example", recovery_codes[1])
    plain.go("/portal/apps/WalkPhone/add-end-user/")
    plain.page.fill("#id_external_id", "walk-2")
    plain.page.fill("#id_sip_username", "2002")
    plain.page.fill("#id_sip_password", "sip-s3cret-2")
    plain.submit()
    plain.submit("#setup-link form >> nth=0")
    assert plain.page.inner_text("#issued-code").startswith("scloc:?v=2&token=")
    assert not plain.page.locator("button[data-copy=issued-code]").is_visible()
    plain.go("/portal/api-keys/")
    plain.page.fill("#id_name", "Nightly export")
    plain.submit()
    plain.click_through("main table tr:has-text('Nightly export') >> text=Revoke")
    plain.submit()
    assert plain.messages() == ["The key Nightly export is revoked; calls with it are refused from now on."]
    quiet.close()

    # A second organization sees nothing of the first.
    portal.go("/portal/apps/WalkPhone/tokens/?status=pending")
    token_id = re.search(r"/tokens/(\d+)/revoke/", page.content()).group(1)
    rival_context = browser.new_context(viewport={"width": 1280, "height": 900})
    rival = Portal(rival_context, base, screenshots)
    sign_up(rival, "rita@rival.example", "Rival Telecom", "RivalFirst")
    assert "WalkPhone" not in rival.page.inner_text("main")
    for path in (
        "/portal/apps/WalkPhone/",
        "/portal/apps/WalkPhone/dashboard/",
        "/portal/apps/WalkPhone/branding/",
        "/portal/apps/WalkPhone/provisioning/test/",
        "/portal/apps/WalkPhone/endusers/",
        "/portal/apps/WalkPhone/endusers/walk-1/",
        "/portal/apps/WalkPhone/tokens/",
        "/portal/apps/WalkPhone/devices/",
        "/portal/apps/WalkPhone/log/",
    ):
        response = rival.go(path)
        assert (path, response.status) == (path, 404)
        assert "Walk" not in rival.page.inner_text("main")
    rival.shoot("rival-not-found")
    # A POST with a valid CSRF token is turned away just the same, and changes nothing.
    csrf = next(c["value"] for c in rival_context.cookies() if c["name"] == "csrftoken")
    for path, data in (
        (f"tokens/{token_id}/revoke/", {}),
        ("devices/deactivate/", {"device_id": "walk-phone-1"}),
        ("endusers/walk-1/delete/", {}),
        ("endusers/walk-1/setup-link/", {"max_uses": "1"}),
    ):
        answer = rival.page.request.post(
            f"{base}/portal/apps/WalkPhone/{path}", form=data, headers={"X-CSRFToken": csrf, "Origin": base}
        )
        assert (path, answer.status) == (path, 404)
    portal.go("/portal/apps/WalkPhone/tokens/?status=pending")
    assert page.locator(f"form[action$='/tokens/{token_id}/revoke/']").count() == 1
    rival_context.close()

    # An App that is no longer wanted is deleted, after typing its ProviderId.
    portal.go("/portal/apps/new/")
    page.fill("#id_provider_id", "WalkSpare")
    page.fill("#id_name", "Walk Spare")
    page.fill("#id_sip_domain", "sip.walk.example")
    portal.submit()
    portal.click_through("text=Delete this App…")
    assert portal.consequences()[0].startswith("Phones: asking for the configuration of WalkSpare gets 404")
    portal.shoot("app-delete-confirm")
    page.fill("#id_confirm_text", "WalkSpare")
    portal.submit()
    assert portal.messages() == ["Deleted the App WalkSpare. Its ProviderId stays reserved for Walk Telecom."]
    assert page.locator(".app-card .pid").all_text_contents() == ["WalkFirst", "WalkPhone"]

    # No script error and no Content-Security-Policy violation on any page (the rival's 404s aside).
    assert (portal.problems, plain.problems) == ([], [])
    assert [
        problem for problem in rival.problems if not problem.startswith(f"404 {base}/portal/apps/WalkPhone/")
    ] == []
    context.close()


def post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as answer:  # the live server on loopback
        return json.loads(answer.read())


def phone_redeems(base: str, token: str, device_id: str) -> dict[str, Any]:
    return post_json(
        f"{base}/api/v1/tokens/redeem",
        {"token": token, "deviceId": device_id, "app": {"platform": "android", "version": "6.2.0"}},
    )


def phone_provisions(base: str, device_id: str) -> dict[str, Any]:
    return post_json(
        f"{base}/api/v1/provision",
        {
            "providerId": "WalkPhone",
            "username": "wanda",
            "password": "1234",
            "deviceId": device_id,
            "reprovision": True,
        },
    )


# The main pages, named as the wide walkthrough names their screenshots.
NARROW_PAGES = {
    "apps": "/portal/",
    "team": "/portal/team/",
    "api-keys": "/portal/api-keys/",
    "audit-log": "/portal/audit/",
    "dashboard": "/portal/apps/NarrowFirst/dashboard/",
    "end-users": "/portal/apps/NarrowFirst/endusers/",
    "end-user-codes": "/portal/apps/NarrowFirst/endusers/mo-1/",
    "setup-tokens": "/portal/apps/NarrowFirst/tokens/",
    "devices": "/portal/apps/NarrowFirst/devices/",
    "provisioning-log": "/portal/apps/NarrowFirst/log/",
    "general": "/portal/apps/NarrowFirst/general/",
    "branding-preview": "/portal/apps/NarrowFirst/branding/",
    "sip-profile": "/portal/apps/NarrowFirst/sip/",
    "provisioning": "/portal/apps/NarrowFirst/provisioning/",
    "test-bench": "/portal/apps/NarrowFirst/provisioning/test/",
    "bulk": "/portal/apps/NarrowFirst/bulk/",
}


def test_the_portal_fits_a_phone_screen(browser, live_server, screenshots: Path):
    base = live_server.url
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    portal = Portal(context, base, screenshots)
    page = portal.page
    sign_up(portal, "mo@narrow.example", "Narrow Mobile Telecommunications", "NarrowFirst")

    # Something in every table: an end user with a setup link a phone redeemed, an invitation.
    portal.go("/portal/apps/NarrowFirst/add-end-user/")
    for field, value in (
        ("external_id", "mo-1"),
        ("display_name", "Mo Narrow"),
        ("sip_username", "3001"),
        ("sip_password", "sip-s3cret"),
    ):
        page.fill(f"#id_{field}", value)
    portal.submit()
    portal.submit("#setup-link form >> nth=0")
    phone_redeems(
        base, page.inner_text("#issued-code").split("token=")[1], "narrow-phone-with-a-long-device-id-1"
    )
    portal.go("/portal/team/")
    page.fill("#id_email", "someone.with.a.long.address@narrow.example")
    portal.submit("form[action$='/invite/']")

    for name, path in NARROW_PAGES.items():
        portal.go(path)
        assert (path, portal.sideways_scroll()) == (path, 0)
        assert (path, portal.rows_of("header.topbar a, header.topbar button, header.topbar select")) == (
            path,
            2,
        )
        if "/apps/NarrowFirst/" in path:
            assert (path, portal.rows_of("nav.tabs a")) == (path, 2)
            current = portal.box("nav.tabs a[aria-current=page]")
            assert (path, 0 <= current["x"] and current["x"] + current["width"] <= 390) == (path, True)
            assert not page.inner_text("nav.crumbs").endswith("/")
        portal.shoot(name)

    # The devices table fits: its Deactivate button is on screen, and asks first.
    portal.go("/portal/apps/NarrowFirst/devices/")
    button = portal.box("main table >> text=Deactivate")
    assert button["x"] + button["width"] <= 390
    portal.click_through("main table >> text=Deactivate")
    assert portal.sideways_scroll() == 0
    portal.shoot("device-deactivate-confirm")
    portal.submit()
    assert "deactivated" in page.inner_text("main table")

    # The team table fits too, with the invitation's Revoke button on screen.
    portal.go("/portal/team/")
    revoke = portal.box("main table >> text=Revoke")
    assert revoke["x"] + revoke["width"] <= 390

    # On Branding the live preview sits above the fields, small enough to see the first ones.
    portal.go("/portal/apps/NarrowFirst/branding/")
    preview, logos = portal.box("#preview"), portal.box("#branding-form fieldset")
    assert preview["y"] + preview["height"] <= logos["y"]
    assert preview["height"] < 420
    page.fill("#id_theme_color", "#f60")
    assert (
        page.locator("#preview .phone:not(.dark) .phone-call").evaluate(
            "e => getComputedStyle(e).backgroundColor"
        )
        == ORANGE
    )
    assert portal.problems == []
    context.close()
