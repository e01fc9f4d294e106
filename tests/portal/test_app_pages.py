from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.test import Client

from sessioncloud.accounts.models import AuditEntry
from sessioncloud.providers.models import App
from tests.factories import CONFIG_MEDIA_DEFAULTS
from tests.portal.conftest import audit_changes, form_data

pytestmark = pytest.mark.django_db

PAGES = ("general", "branding", "sip", "provisioning")


def fingerprint(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:8]


def page_url(page: str, provider_id: str = "AcmeInc") -> str:
    return f"/portal/apps/{provider_id}/{page}/"


def save(client: Client, page: str, **changes: object) -> Any:
    return client.post(page_url(page), form_data(client.get(page_url(page)), **changes))


@pytest.mark.parametrize("page", PAGES)
def test_every_app_page_answers_its_owner(owner_client, app, page):
    response = owner_client.get(page_url(page))
    assert response.status_code == 200
    assert response.context["app"] == app


def test_the_app_root_and_lookups_ignore_the_case_of_the_provider_id(owner_client, app):
    assert owner_client.get("/portal/apps/acmeinc/")["Location"] == "/portal/apps/AcmeInc/dashboard/"
    assert owner_client.get(page_url("sip", "ACMEINC")).status_code == 200


def test_saving_general_settings_saves_them_and_audits_the_change(owner_client, app, owner):
    response = save(
        owner_client,
        "general",
        name="Acme Mobile",
        kind="whitelabel",
        enabled=None,
        ios_bundle_id="com.acme.phone",
        android_package="com.acme.android",
    )
    assert (response.status_code, response["Location"]) == (302, "/portal/apps/AcmeInc/general/")
    app.refresh_from_db()
    assert (app.name, app.kind, app.enabled, app.ios_bundle_id, app.android_package) == (
        "Acme Mobile",
        "whitelabel",
        False,
        "com.acme.phone",
        "com.acme.android",
    )
    entry = AuditEntry.objects.get()
    assert (entry.organization, entry.actor, entry.action, entry.object_type, entry.object_repr) == (
        app.organization,
        "owner@acme.example",
        "app.general",
        "App",
        "AcmeInc",
    )
    assert audit_changes(entry) == {
        "bundleIds.android": ("", "com.acme.android"),
        "bundleIds.ios": ("", "com.acme.phone"),
        "enabled": (True, False),
        "kind": ("generic", "whitelabel"),
        "name": ("Acme Telecom", "Acme Mobile"),
    }


def test_saving_branding_reaches_the_phone_config_at_once(owner_client, app):
    assert Client().get("/api/v1/providers/AcmeInc/config").json()["branding"]["themeColor"] == "#0A7CFF"
    response = save(
        owner_client,
        "branding",
        theme_color="#FF6600",
        help_menu_title="Support",
        link_title_1="Billing",
        link_url_1="https://acme.example/b?u=%user%&p=%pwd%",
        link_title_2="Status",
        link_url_2="https://status.acme.example/",
        credentials_source="provisioning",
        contact_email="help@acme.example",
    )
    assert response.status_code == 302
    branding = Client().get("/api/v1/providers/AcmeInc/config").json()["branding"]
    assert branding == {
        "logo": None,
        "logoDark": None,
        "themeColor": "#FF6600",
        "contactEmail": "help@acme.example",
        "helpMenuTitle": "Support",
        "helpLinks": [
            {"title": "Billing", "url": "https://acme.example/b?u=%user%&p=%pwd%"},
            {"title": "Status", "url": "https://status.acme.example/"},
        ],
        "credentialsSource": "provisioning",
    }
    assert audit_changes(AuditEntry.objects.get()) == {
        "branding.contactEmail": ("support@acme.example", "help@acme.example"),
        "branding.credentialsSource": ("sip", "provisioning"),
        "branding.helpLinks": (
            [],
            [
                {"title": "Billing", "url": "https://acme.example/b?u=%user%&p=%pwd%"},
                {"title": "Status", "url": "https://status.acme.example/"},
            ],
        ),
        "branding.helpMenuTitle": ("Help", "Support"),
        "branding.themeColor": ("#0A7CFF", "#FF6600"),
    }


def test_emptying_every_help_link_row_removes_the_links(owner_client, app):
    app.help_links = [{"title": "Billing", "url": "https://acme.example/b"}]
    app.save()
    save(owner_client, "branding", link_title_1="", link_url_1="")
    app.refresh_from_db()
    assert app.help_links == []


def test_a_help_link_url_problem_is_shown_beside_its_row(owner_client, app):
    response = save(owner_client, "branding", link_title_2="Billing", link_url_2="http://acme.example/b")
    assert response.status_code == 200
    assert response.context["form"].errors == {"link_url_2": ["Help links must be https:// URLs."]}
    app.refresh_from_db()
    assert app.help_links == []
    assert not AuditEntry.objects.exists()


def test_a_help_link_problem_is_shown_once(owner_client, app):
    response = save(owner_client, "branding", link_title_1="Billing", link_url_1="http://acme.example/b")
    assert response.content.decode().count("Help links must be https:// URLs.") == 1


def test_a_help_link_without_a_title_is_refused_beside_its_title(owner_client, app):
    response = save(owner_client, "branding", link_title_1="", link_url_1="https://acme.example/b")
    assert response.context["form"].errors == {"link_title_1": ["Give this link a title."]}


def test_a_theme_colour_is_checked_and_its_contrast_shown(owner_client, app):
    response = save(owner_client, "branding", theme_color="blue")
    assert response.context["form"].errors == {
        "theme_color": ["Use a colour of the form #RRGGBB or #RGB, for example #0A7CFF."]
    }
    save(owner_client, "branding", theme_color="#FFFF00")
    page = owner_client.get(page_url("branding")).content.decode()
    assert '<strong id="contrast-white">1.1:1</strong>' in page
    assert '<strong id="contrast-black">19.6:1</strong>' in page
    assert (
        "Against white this colour has a contrast of only 1.1:1, so keypad digits and controls "
        "are hard to read in light mode (aim for at least 3:1)."
    ) in page


def test_saving_the_sip_profile(owner_client, app):
    save(
        owner_client,
        "sip",
        sip_domain="pbx.acme.example:5080",
        sip_proxy="proxy.acme.example",
        sip_transport="UDP",
        use_subdomains="on",
        srtp="Enabled",
        voicemail_number="*98",
        registration_expires="300",
        login_fields="username_password_subdomain",
    )
    sip = Client().get("/api/v1/providers/AcmeInc/config").json()["sip"]
    assert sip == {
        "domain": "pbx.acme.example",
        "port": 5080,
        "proxy": "proxy.acme.example",
        "transport": "UDP",
        "useSubdomains": True,
        "srtp": "Enabled",
        "messaging": "Enabled",
        "video": "Disabled",
        "callrecording": "Disabled",
        "voicemailNumber": "*98",
        "registrationExpires": 300,
        **CONFIG_MEDIA_DEFAULTS,
    }
    assert AuditEntry.objects.get().action == "app.sip"


def test_the_sip_profile_keeps_the_model_rules(owner_client, app):
    response = save(owner_client, "sip", sip_domain="sip acme", registration_expires="5")
    assert response.context["form"].errors == {
        "sip_domain": ["Use host or host:port, for example sip.example.com:5060."],
        "registration_expires": ["Use a registration expiry from 30 to 86400 seconds."],
    }
    app.refresh_from_db()
    assert app.sip_domain == "sip.acme.example"


NAT_AND_MEDIA = {
    "stun_server": "stun.acme.example:3478",
    "turn_server": "turn.acme.example",
    "turn_username": "relay",
    "turn_password": "turn-s3cret",
    "ice_enabled": "on",
    "keepalive_seconds": "15",
    "srtp_mode": "mandatory",
    "audio_codecs": "OPUS, pcmu,g722",
    "video_codecs": "vp8",
    "dtmf_mode": "info",
    "sip_realm": "acme",
}


def test_saving_the_nat_and_media_settings_reaches_the_phone_config(owner_client, app):
    response = save(owner_client, "sip", **NAT_AND_MEDIA)
    assert response.status_code == 302
    config = Client().get("/api/v1/providers/AcmeInc/config")
    sip = config.json()["sip"]
    assert {key: sip[key] for key in CONFIG_MEDIA_DEFAULTS} == {
        "stunServer": "stun.acme.example:3478",
        "turnServer": "turn.acme.example",
        "ice": True,
        "keepAliveSeconds": 15,
        "srtpMode": "mandatory",
        "audioCodecs": ["opus", "PCMU", "G722"],
        "videoCodecs": ["VP8"],
        "dtmfMode": "info",
        "realm": "acme",
    }
    assert b"relay" not in config.content and b"turn-s3cret" not in config.content


def test_the_turn_password_is_stored_and_audited_but_never_shown(owner_client, app):
    save(owner_client, "sip", **NAT_AND_MEDIA)
    app.refresh_from_db()
    assert (app.turn_username, app.turn_password) == ("relay", "turn-s3cret")
    changes = audit_changes(AuditEntry.objects.get())
    assert changes["sip.turnPassword"] == ("", "***")
    page = owner_client.get(page_url("sip")).content.decode()
    assert "turn-s3cret" not in page
    assert 'TURN password: <span class="badge ok">set</span>' in page


def test_a_blank_turn_password_keeps_the_current_one(owner_client, app):
    save(owner_client, "sip", **NAT_AND_MEDIA)
    save(owner_client, "sip", turn_password="", keepalive_seconds="20")
    app.refresh_from_db()
    assert (app.turn_password, app.keepalive_seconds) == ("turn-s3cret", 20)


def test_removing_the_turn_settings_removes_the_password(owner_client, app):
    save(owner_client, "sip", **NAT_AND_MEDIA)
    response = save(owner_client, "sip", turn_server="", turn_username="", clear_turn_password="on")
    assert response.status_code == 302
    app.refresh_from_db()
    assert (app.turn_server, app.turn_username, app.turn_password) == ("", "", "")


def test_a_turn_server_needs_its_credentials(owner_client, app):
    response = save(owner_client, "sip", turn_server="turn.acme.example")
    assert response.context["form"].errors == {
        "turn_username": ["A TURN server needs a username."],
        "turn_password": ["A TURN server needs a password."],
    }
    app.refresh_from_db()
    assert app.turn_server == ""


def test_turn_credentials_need_a_turn_server(owner_client, app):
    response = save(owner_client, "sip", turn_username="relay", turn_password="turn-s3cret")
    assert response.context["form"].errors == {
        "turn_server": ["Enter the TURN server these credentials are for, or remove them."],
    }


def test_the_nat_and_media_settings_keep_the_model_rules(owner_client, app):
    response = save(
        owner_client,
        "sip",
        stun_server="stun acme",
        keepalive_seconds="2",
        audio_codecs="opus, g711",
        video_codecs="VP8, vp8",
        sip_realm='acme"',
        dtmf_mode="sip",
    )
    assert response.context["form"].errors == {
        "stun_server": ["Use host or host:port, for example sip.example.com:5060."],
        "keepalive_seconds": ["Use 0 (no keep-alives) or 5 to 3600 seconds."],
        "audio_codecs": ["Unknown audio codec 'g711'. Use opus, G722, PCMU, PCMA, G729, GSM, iLBC, speex."],
        "video_codecs": ["The video codec VP8 is listed twice."],
        "sip_realm": [
            "A realm is one line of printable ASCII without quotes or backslashes, at most 253 characters."
        ],
        "dtmf_mode": ["Select a valid choice. sip is not one of the available choices."],
    }
    app.refresh_from_db()
    assert (app.stun_server, app.keepalive_seconds, app.audio_codecs) == ("", 30, [])


def test_keep_alives_can_be_turned_off(owner_client, app):
    save(owner_client, "sip", keepalive_seconds="0")
    assert Client().get("/api/v1/providers/AcmeInc/config").json()["sip"]["keepAliveSeconds"] == 0


def test_the_sip_page_shows_the_saved_codec_order(owner_client, app):
    save(owner_client, "sip", audio_codecs="pcma, opus")
    page = owner_client.get(page_url("sip")).content.decode()
    assert 'name="audio_codecs" value="PCMA, opus"' in page


@pytest.mark.parametrize("typed", ["#fff", "#FFF", "#ffffff"])
def test_a_theme_colour_is_saved_as_six_upper_case_digits(owner_client, app, typed):
    save(owner_client, "branding", theme_color=typed)
    app.refresh_from_db()
    assert app.theme_color == "#FFFFFF"


def test_a_short_colour_reaches_the_phone_in_full(owner_client, app):
    save(owner_client, "branding", theme_color="#0af")
    assert Client().get("/api/v1/providers/AcmeInc/config").json()["branding"]["themeColor"] == "#00AAFF"


@pytest.mark.parametrize("typed", ["-1", "5", "29", "86401"])
def test_every_registration_expiry_out_of_range_gets_the_one_range_message(owner_client, app, typed):
    response = save(owner_client, "sip", registration_expires=typed)
    assert response.context["form"].errors == {
        "registration_expires": ["Use a registration expiry from 30 to 86400 seconds."]
    }


@pytest.mark.parametrize(
    ("domain", "host", "port"),
    [
        ("[::1]:5060", "[::1]", 5060),
        ("[2001:db8::10]", "[2001:db8::10]", 5061),
        ("10.0.0.7:5070", "10.0.0.7", 5070),
    ],
)
def test_an_ip_address_is_a_domain(owner_client, app, domain, host, port):
    response = save(owner_client, "sip", sip_domain=domain)
    assert response.status_code == 302
    sip = Client().get("/api/v1/providers/AcmeInc/config").json()["sip"]
    assert (sip["domain"], sip["port"]) == (host, port)


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        ("::1", "Put an IPv6 address in brackets, for example [2001:db8::1]:5060."),
        ("2001:db8::1:5060", "Put an IPv6 address in brackets, for example [2001:db8::1]:5060."),
        ("[2001:db8::zz]:5060", "2001:db8::zz is not an IPv6 address."),
        ("[::1]:70000", "The port must be between 1 and 65535."),
        ("[::1]:", "Use [address] or [address]:port, for example [2001:db8::1]:5060."),
    ],
)
def test_an_ipv6_domain_must_be_a_bracketed_address(owner_client, app, domain, message):
    response = save(owner_client, "sip", sip_domain=domain)
    assert response.context["form"].errors == {"sip_domain": [message]}


@pytest.mark.parametrize("number", ["*97", "+4930123456", "#123*"])
def test_a_voicemail_number_is_a_dial_string(owner_client, app, number):
    assert save(owner_client, "sip", voicemail_number=number).status_code == 302
    app.refresh_from_db()
    assert app.voicemail_number == number


@pytest.mark.parametrize("number", ["<b>97</b>", "*9 7", "javascript:x", "97;x=1"])
def test_a_voicemail_number_with_anything_else_is_refused(owner_client, app, number):
    response = save(owner_client, "sip", voicemail_number=number)
    assert response.context["form"].errors == {
        "voicemail_number": ["Use digits, *, # and + only (at most 32), for example *97."]
    }


def test_saving_provisioning_settings_keeps_the_auth_header_secret(owner_client, app):
    response = save(
        owner_client,
        "provisioning",
        provisioning_mode="external",
        provisioning_url="https://prov.acme.example/provisioning",
        auth_header="Bearer s3cret",
        provisioning_timeout="5",
        username_placeholder="Account No",
        password_placeholder="PIN",
        token_ttl_hours="24",
    )
    assert response.status_code == 302
    app.refresh_from_db()
    assert (
        app.provisioning_mode,
        app.provisioning_url,
        app.provisioning_auth_header,
        app.provisioning_timeout,
        app.username_placeholder,
        app.password_placeholder,
        app.token_ttl_hours,
    ) == ("external", "https://prov.acme.example/provisioning", "Bearer s3cret", 5, "Account No", "PIN", 24)
    assert audit_changes(AuditEntry.objects.get()) == {
        "login.passwordPlaceholder": ("", "PIN"),
        "login.usernamePlaceholder": ("", "Account No"),
        "provisioning.authHeader": ("", "***"),
        "provisioning.mode": ("portal", "external"),
        "provisioning.timeoutSeconds": (8, 5),
        "provisioning.tokenTtlHours": (72, 24),
        "provisioning.url": ("", "https://prov.acme.example/provisioning"),
    }
    page = owner_client.get(page_url("provisioning")).content.decode()
    assert "s3cret" not in page
    assert 'Currently: <span class="badge ok">set</span>' in page


def test_a_blank_auth_header_keeps_the_current_one_and_clear_removes_it(owner_client, app):
    app.provisioning_auth_header = "Bearer s3cret"
    app.save()
    save(owner_client, "provisioning", auth_header="", provisioning_timeout="9")
    app.refresh_from_db()
    assert (app.provisioning_auth_header, app.provisioning_timeout) == ("Bearer s3cret", 9)
    save(owner_client, "provisioning", clear_auth_header="on")
    app.refresh_from_db()
    assert app.provisioning_auth_header == ""


def test_an_auth_header_of_several_lines_is_refused(owner_client, app):
    response = save(owner_client, "provisioning", auth_header="Bearer a\r\nX-Evil: 1")
    assert response.context["form"].errors == {
        "auth_header": ["The header value must be one line of printable ASCII, at most 1000 characters."]
    }


def test_external_mode_needs_a_url(owner_client, app):
    response = save(owner_client, "provisioning", provisioning_mode="external", provisioning_url="")
    assert response.context["form"].errors == {
        "provisioning_url": ["External provisioning needs the URL of your web service."]
    }


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://10.0.0.1/prov", "SessionCloud cannot call this URL: 10.0.0.1 is a private address."),
        (
            "http://prov.acme.example/prov",
            "SessionCloud cannot call this URL: the URL must start with https://.",
        ),
        (
            "https://169.254.169.254/latest",
            "SessionCloud cannot call this URL: 169.254.169.254 is a cloud metadata address.",
        ),
    ],
)
def test_a_provisioning_url_that_cannot_be_called_is_refused(owner_client, app, url, message):
    response = save(owner_client, "provisioning", provisioning_mode="external", provisioning_url=url)
    assert response.context["form"].errors == {"provisioning_url": [message]}
    app.refresh_from_db()
    assert app.provisioning_url == ""


def test_a_url_that_does_not_resolve_yet_is_saved_with_a_warning(owner_client, app):
    response = owner_client.post(
        page_url("provisioning"),
        form_data(
            owner_client.get(page_url("provisioning")),
            provisioning_mode="external",
            provisioning_url="https://prov.acme.invalid/p",
        ),
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == [
        "prov.acme.invalid does not resolve yet; SessionCloud checks it again on every call.",
        "Your changes are saved.",
    ]
    app.refresh_from_db()
    assert app.provisioning_url == "https://prov.acme.invalid/p"


def test_rotating_shows_the_new_secret_once_and_keeps_the_old_one_valid(owner_client, app):
    old = app.signing_secret_list()
    response = owner_client.post(page_url("provisioning") + "rotate-secret/")
    app.refresh_from_db()
    new = app.signing_secret_list()[0]
    assert app.signing_secret_list() == [new, *old]
    assert f'<code id="new-secret">{new}</code>' in response.content.decode()
    assert response["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
    assert new not in owner_client.get(page_url("provisioning")).content.decode()
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.before, entry.after) == (
        "app.signing_secret.rotate",
        {"provisioning.signingSecrets": [fingerprint(old[0])]},
        {"provisioning.signingSecrets": [fingerprint(new), fingerprint(old[0])]},
    )
    assert new not in str(entry.after) and old[0] not in str(entry.before)


def test_ending_the_rotation_keeps_only_the_newest_secret(owner_client, app):
    owner_client.post(page_url("provisioning") + "rotate-secret/")
    app.refresh_from_db()
    newest = app.signing_secret_list()[0]
    response = owner_client.post(page_url("provisioning") + "end-rotation/")
    assert response["Location"] == "/portal/apps/AcmeInc/provisioning/"
    app.refresh_from_db()
    assert app.signing_secret_list() == [newest]
    assert list(AuditEntry.objects.values_list("action", flat=True)) == [
        "app.signing_secret.end_rotation",
        "app.signing_secret.rotate",
    ]


def test_saving_without_a_change_writes_no_audit_entry(owner_client, app):
    assert save(owner_client, "general").status_code == 302
    assert not AuditEntry.objects.exists()


def test_an_admin_may_edit_apps_too(admin_client, app):
    save(admin_client, "general", name="Renamed by admin")
    app.refresh_from_db()
    assert app.name == "Renamed by admin"


def test_creating_an_app(owner_client, org):
    response = owner_client.post(
        "/portal/apps/new/",
        {"provider_id": "AcmeTwo", "name": "Acme Two", "kind": "generic", "sip_domain": "sip2.acme.example"},
    )
    assert response["Location"] == "/portal/apps/AcmeTwo/general/"
    app = App.objects.get(provider_id="AcmeTwo")
    assert (app.organization, app.name, len(app.signing_secret_list())) == (org, "Acme Two", 1)
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.before, entry.after["providerId"]) == ("app.create", None, "AcmeTwo")


def test_a_new_app_may_not_take_a_provider_id_in_another_case(owner_client, rival_app):
    response = owner_client.post(
        "/portal/apps/new/",
        {"provider_id": "rivalco", "name": "Copy", "kind": "generic", "sip_domain": "sip.acme.example"},
    )
    assert response.context["form"].errors == {"provider_id": ["This ProviderId is already taken."]}
    assert App.objects.count() == 1


def test_the_home_page_lists_only_the_organizations_apps(owner_client, app, rival_app):
    response = owner_client.get("/portal/")
    assert [a.provider_id for a in response.context["apps"]] == ["AcmeInc"]
    assert "RivalCo" not in response.content.decode()
