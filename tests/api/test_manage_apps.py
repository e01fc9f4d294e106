from __future__ import annotations

from typing import Any

import pytest

from sessioncloud.accounts.models import ApiKey, AuditEntry
from sessioncloud.providers.models import App
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db

APP_BODY = {
    "providerId": "AcmeInc",
    "name": "Acme Telecom",
    "kind": "generic",
    "enabled": True,
    "bundleIds": {"ios": None, "android": None},
    "branding": {
        "themeColor": "#0A7CFF",
        "contactEmail": "support@acme.example",
        "helpMenuTitle": "Help",
        "helpLinks": [{"title": "Billing", "url": "https://acme.example/b?u=%user%"}],
        "credentialsSource": "sip",
    },
    "login": {"fields": "username_password", "usernamePlaceholder": None, "passwordPlaceholder": None},
    "sip": {
        "domain": "sip.acme.example:5060",
        "proxy": None,
        "transport": "UDP",
        "useSubdomains": False,
        "srtp": "Disabled",
        "messaging": "Enabled",
        "video": "Disabled",
        "callrecording": "Disabled",
        "voicemailNumber": None,
        "registrationExpires": 600,
    },
    "provisioning": {
        "mode": "external",
        "url": "https://prov.acme.example/provisioning",
        "authHeader": "Bearer s3cret",
        "timeoutSeconds": 8,
        "tokenTtlHours": 72,
    },
}


def create_app(api: ApiClient, body: dict[str, Any] = APP_BODY) -> Any:
    return api.post("/api/v1/manage/apps", body)


def patch_theme_and_auth_header(api: ApiClient) -> Any:
    create_app(api)
    return api.patch(
        "/api/v1/manage/apps/AcmeInc",
        {"branding": {"themeColor": "#FF0000"}, "provisioning": {"authHeader": "Bearer new"}},
    )


def test_it_creates_an_app_from_the_documented_body(api: ApiClient) -> None:
    response = create_app(api)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["providerId"] == "AcmeInc"
    assert body["branding"]["helpLinks"] == [{"title": "Billing", "url": "https://acme.example/b?u=%user%"}]
    assert body["sip"]["domain"] == "sip.acme.example:5060"


def test_it_answers_a_new_app_saying_an_auth_header_is_set_without_showing_it(api: ApiClient) -> None:
    response = create_app(api)
    assert response.json()["provisioning"] == {
        "mode": "external",
        "url": "https://prov.acme.example/provisioning",
        "authHeaderSet": True,
        "timeoutSeconds": 8,
        "tokenTtlHours": 72,
    }
    assert "s3cret" not in response.content.decode()


def test_it_stores_the_auth_header_of_a_new_app(api: ApiClient) -> None:
    create_app(api)
    assert App.objects.get(provider_id="AcmeInc").provisioning_auth_header == "Bearer s3cret"


def test_a_new_app_gets_one_signing_secret(api: ApiClient) -> None:
    create_app(api)
    assert len(App.objects.get(provider_id="AcmeInc").signing_secret_list()) == 1


def test_the_auth_header_is_stored_encrypted(api):
    api.post("/api/v1/manage/apps", APP_BODY)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT provisioning_auth_header, signing_secrets FROM providers_app")
        stored_header, stored_secrets = cursor.fetchone()
    assert "s3cret" not in stored_header and stored_header.startswith("gAAAAA")
    assert "scs_" not in stored_secrets


def test_it_lists_only_the_callers_apps(api, other_api):
    api.post("/api/v1/manage/apps", APP_BODY)
    other_api.post("/api/v1/manage/apps", {**APP_BODY, "providerId": "RivalCo"})
    assert [a["providerId"] for a in api.get("/api/v1/manage/apps").json()] == ["AcmeInc"]
    assert [a["providerId"] for a in other_api.get("/api/v1/manage/apps").json()] == ["RivalCo"]


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("get", ("/api/v1/manage/apps/AcmeInc",)),
        ("patch", ("/api/v1/manage/apps/AcmeInc", {"name": "Stolen"})),
        ("put_bytes", ("/api/v1/manage/apps/AcmeInc/logo", b"x", "image/png")),
    ],
)
def test_another_organizations_app_is_a_404_everywhere(
    api: ApiClient, other_api: ApiClient, method: str, args: tuple[Any, ...]
) -> None:
    create_app(api)
    not_found = {
        "error": {"code": "not_found", "message": "No app with that ProviderId in your organization."}
    }
    response = getattr(other_api, method)(*args)
    assert (response.status_code, response.json()) == (404, not_found)
    assert App.objects.get(provider_id="AcmeInc").name == "Acme Telecom"


def test_it_reads_an_app_ignoring_case(api):
    api.post("/api/v1/manage/apps", APP_BODY)
    assert api.get("/api/v1/manage/apps/acmeinc").json()["providerId"] == "AcmeInc"


def test_a_patch_updates_only_the_fields_sent(api: ApiClient) -> None:
    response = patch_theme_and_auth_header(api)
    assert response.status_code == 200
    body = response.json()
    assert body["branding"]["themeColor"] == "#FF0000"
    assert body["branding"]["contactEmail"] == "support@acme.example"


def patch_audit(api: ApiClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the audit entry of a patch keeps of the App before and after it."""
    patch_theme_and_auth_header(api)
    entry = AuditEntry.objects.filter(action="app.update").get()
    assert entry.before is not None and entry.after is not None
    return entry.before, entry.after


def test_a_patch_is_audited_with_the_values_before_and_after(api: ApiClient) -> None:
    before, after = patch_audit(api)
    assert before["branding.themeColor"] == "#0A7CFF"
    assert after["branding.themeColor"] == "#FF0000"


def test_the_audit_of_a_patch_masks_the_auth_header(api: ApiClient) -> None:
    before, after = patch_audit(api)
    assert after["provisioning.authHeader"] == "***"
    assert "Bearer" not in str(before) + str(after)


def test_the_audit_of_a_patch_names_the_api_key(api: ApiClient) -> None:
    patch_theme_and_auth_header(api)
    assert AuditEntry.objects.filter(action="app.update").get().actor.startswith("api key tests")


def test_a_get_can_be_sent_back_as_a_patch(api):
    created = api.post("/api/v1/manage/apps", APP_BODY).json()
    response = api.patch("/api/v1/manage/apps/AcmeInc", created)
    assert response.status_code == 200, response.content
    assert response.json()["configVersion"] == created["configVersion"]


def test_the_phone_sees_a_patch_at_once(api):
    from django.test import Client

    api.post("/api/v1/manage/apps", {**APP_BODY, "provisioning": {"mode": "portal"}})
    before = Client().get("/api/v1/providers/AcmeInc/config").json()
    api.patch("/api/v1/manage/apps/AcmeInc", {"name": "Acme Renamed"})
    after = Client().get("/api/v1/providers/AcmeInc/config").json()
    assert (before["name"], after["name"]) == ("Acme Telecom", "Acme Renamed")


def test_the_provider_id_cannot_be_changed_through_the_api(api):
    api.post("/api/v1/manage/apps", APP_BODY)
    response = api.patch("/api/v1/manage/apps/AcmeInc", {"providerId": "Other"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {
        "providerId": "Phones in the field hold the ProviderId: only an operator can change it."
    }


@pytest.mark.parametrize(
    ("provider_id", "message"),
    [
        (
            "ab",
            "A ProviderId has 3 to 32 characters, ASCII letters and digits only, and starts with a letter.",
        ),
        (
            "a" * 33,
            "A ProviderId has 3 to 32 characters, ASCII letters and digits only, and starts with a letter.",
        ),
        (
            "1abc",
            "A ProviderId has 3 to 32 characters, ASCII letters and digits only, and starts with a letter.",
        ),
        (
            "abc-def",
            "A ProviderId has 3 to 32 characters, ASCII letters and digits only, and starts with a letter.",
        ),
        (
            "Äbc",
            "A ProviderId has 3 to 32 characters, ASCII letters and digits only, and starts with a letter.",
        ),
    ],
)
def test_it_refuses_bad_provider_ids(api, provider_id, message):
    response = api.post("/api/v1/manage/apps", {**APP_BODY, "providerId": provider_id})
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"providerId": message}


def test_provider_ids_are_unique_ignoring_case(api, other_api):
    api.post("/api/v1/manage/apps", APP_BODY)
    response = other_api.post("/api/v1/manage/apps", {**APP_BODY, "providerId": "ACMEINC"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"providerId": "This ProviderId is already taken."}


def test_it_names_every_bad_field_at_once(api):
    body = {
        **APP_BODY,
        "branding": {
            **APP_BODY["branding"],
            "themeColor": "blue",
            "contactEmail": "not-an-email",
            "helpLinks": [{"title": "Bad", "url": "http://insecure.example/"}],
        },
        "sip": {**APP_BODY["sip"], "domain": "bad domain!", "proxy": "proxy.example:99999"},
        "provisioning": {"mode": "external", "url": "", "timeoutSeconds": 60},
    }
    response = api.post("/api/v1/manage/apps", body)
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {
        "branding.themeColor": "Use a colour of the form #RRGGBB or #RGB, for example #0A7CFF.",
        "branding.contactEmail": "Enter a valid email address.",
        "branding.helpLinks": "Help link 1: Help links must be https:// URLs.",
        "sip.domain": "Use host or host:port, for example sip.example.com:5060.",
        "sip.proxy": "The port must be between 1 and 65535.",
        "provisioning.url": "External provisioning needs the URL of your web service.",
        "provisioning.timeoutSeconds": "Ensure this value is less than or equal to 15.",
    }
    assert App.objects.count() == 0


def test_it_refuses_wrong_types_and_unknown_keys_with_field_names(api):
    response = api.post(
        "/api/v1/manage/apps",
        {
            **APP_BODY,
            "enabled": "maybe",
            "colour": "#000000",
            "sip": {**APP_BODY["sip"], "transport": "SCTP"},
        },
    )
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"enabled", "colour", "sip.transport"}
    assert fields["colour"] == "This field is not known."
    assert fields["sip.transport"] == "Input should be 'UDP', 'TCP' or 'TLS'"


def test_more_than_five_help_links_are_refused(api):
    links = [{"title": f"L{i}", "url": f"https://acme.example/{i}"} for i in range(6)]
    response = api.post("/api/v1/manage/apps", {**APP_BODY, "branding": {"helpLinks": links}})
    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) == {"branding.helpLinks"}


def test_it_requires_the_essential_fields_on_create(api):
    response = api.post("/api/v1/manage/apps", {"kind": "generic"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {
        "providerId": "This field is required.",
        "name": "This field is required.",
        "sip.domain": "This field is required.",
    }


def test_malformed_json_is_a_clear_400(api):
    response = api.client.post(
        "/api/v1/manage/apps", data="{nope", content_type="application/json", headers=api.headers
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "invalid_json", "message": "The request body is not valid JSON."}
    }


@pytest.mark.parametrize("key", [None, "wrong", "sck_" + "x" * 43, "x" * 500])
def test_it_refuses_missing_and_wrong_keys(db, key):
    response = ApiClient(key).get("/api/v1/manage/apps")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_a_revoked_key_is_refused(org):
    from django.utils import timezone

    key, plain = ApiKey.issue(org, "old")
    key.revoked = timezone.now()
    key.save()
    assert ApiClient(plain).get("/api/v1/manage/apps").status_code == 401


def test_api_keys_are_stored_hashed(org):
    key, plain = ApiKey.issue(org, "hashed")
    assert plain not in (key.key_hash, key.hint)
    assert len(key.key_hash) == 64


def test_unknown_api_paths_and_methods_answer_in_the_error_shape(api):
    missing = api.get("/api/v1/nothing-here")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    wrong_method = api.delete("/api/v1/manage/apps")
    assert (wrong_method.status_code, wrong_method.json()["error"]["code"]) == (405, "method_not_allowed")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://127.0.0.1/p", "SessionCloud cannot call this URL: "),
        ("https://10.1.2.3/p", "SessionCloud cannot call this URL: "),
        ("https://localhost/p", "SessionCloud cannot call this URL: "),
        ("http://prov.acme.example/p", "SessionCloud cannot call this URL: "),
    ],
)
def test_the_provisioning_url_is_checked_when_saved(api, url, message):
    response = api.post("/api/v1/manage/apps", {**APP_BODY, "provisioning": {"mode": "external", "url": url}})
    assert response.status_code == 422
    assert response.json()["error"]["fields"]["provisioning.url"].startswith(message)
    assert App.objects.count() == 0


def test_a_provisioning_url_that_does_not_resolve_yet_is_saved_with_a_warning(api):
    body = {**APP_BODY, "provisioning": {"mode": "external", "url": "https://not-yet.invalid/provisioning"}}
    response = api.post("/api/v1/manage/apps", body)
    assert response.status_code == 201
    assert response.json()["warnings"] == [
        "not-yet.invalid does not resolve yet; SessionCloud checks it again on every call."
    ]


def test_an_auth_header_value_cannot_carry_a_second_header(api):
    body = {**APP_BODY, "provisioning": {**APP_BODY["provisioning"], "authHeader": "Bearer x\r\nX-Evil: 1"}}
    response = api.post("/api/v1/manage/apps", body)
    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) == {"provisioning.authHeader"}


NAT_AND_MEDIA = {
    "stunServer": "stun.acme.example:3478",
    "turnServer": "turn.acme.example",
    "turnUsername": "relay",
    "turnPassword": "turn-s3cret",
    "ice": True,
    "keepAliveSeconds": 15,
    "srtpMode": "mandatory",
    "audioCodecs": ["OPUS", "pcmu"],
    "videoCodecs": ["h264"],
    "dtmfMode": "inband",
    "realm": "acme",
}


def test_the_sip_body_carries_the_nat_and_media_settings(api):
    response = api.post("/api/v1/manage/apps", {**APP_BODY, "sip": {**APP_BODY["sip"], **NAT_AND_MEDIA}})
    assert response.status_code == 201, response.content
    sip = response.json()["sip"]
    assert {key: sip[key] for key in [*NAT_AND_MEDIA, "turnPasswordSet"] if key != "turnPassword"} == {
        "stunServer": "stun.acme.example:3478",
        "turnServer": "turn.acme.example",
        "turnUsername": "relay",
        "turnPasswordSet": True,
        "ice": True,
        "keepAliveSeconds": 15,
        "srtpMode": "mandatory",
        "audioCodecs": ["opus", "PCMU"],
        "videoCodecs": ["H264"],
        "dtmfMode": "inband",
        "realm": "acme",
    }
    assert "turnPassword" not in sip
    assert "turn-s3cret" not in response.content.decode()


def test_a_new_app_keeps_todays_behaviour_for_nat_and_media(api):
    sip = api.post("/api/v1/manage/apps", APP_BODY).json()["sip"]
    assert {key: sip[key] for key in [*NAT_AND_MEDIA, "turnPasswordSet"] if key != "turnPassword"} == {
        "stunServer": None,
        "turnServer": None,
        "turnUsername": None,
        "turnPasswordSet": False,
        "ice": False,
        "keepAliveSeconds": 30,
        "srtpMode": "optional",
        "audioCodecs": [],
        "videoCodecs": [],
        "dtmfMode": "rfc2833",
        "realm": None,
    }


def test_the_turn_password_is_stored_encrypted_and_audited_masked(api):
    api.post("/api/v1/manage/apps", APP_BODY)
    api.patch(
        "/api/v1/manage/apps/AcmeInc",
        {"sip": {"turnServer": "turn.acme.example", "turnUsername": "relay", "turnPassword": "turn-s3cret"}},
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT turn_password FROM providers_app")
        [stored] = cursor.fetchone()
    assert stored.startswith("gAAAAA") and "turn-s3cret" not in stored
    assert App.objects.get().turn_password == "turn-s3cret"
    entry = AuditEntry.objects.filter(action="app.update").get()
    assert (entry.before["sip.turnPassword"], entry.after["sip.turnPassword"]) == ("", "***")


def test_a_get_with_turn_settings_can_be_sent_back_as_a_patch(api):
    created = api.post(
        "/api/v1/manage/apps", {**APP_BODY, "sip": {**APP_BODY["sip"], **NAT_AND_MEDIA}}
    ).json()
    response = api.patch("/api/v1/manage/apps/AcmeInc", created)
    assert response.status_code == 200, response.content
    assert response.json()["configVersion"] == created["configVersion"]
    assert App.objects.get().turn_password == "turn-s3cret"


def test_removing_the_turn_server_with_its_credentials(api):
    api.post("/api/v1/manage/apps", {**APP_BODY, "sip": {**APP_BODY["sip"], **NAT_AND_MEDIA}})
    response = api.patch(
        "/api/v1/manage/apps/AcmeInc",
        {"sip": {"turnServer": None, "turnUsername": None, "turnPassword": None}},
    )
    assert response.status_code == 200, response.content
    sip = response.json()["sip"]
    assert (sip["turnServer"], sip["turnUsername"], sip["turnPasswordSet"]) == (None, None, False)


def test_a_turn_server_alone_is_refused_naming_the_missing_credentials(api):
    api.post("/api/v1/manage/apps", APP_BODY)
    response = api.patch("/api/v1/manage/apps/AcmeInc", {"sip": {"turnServer": "turn.acme.example"}})
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {
        "sip.turnUsername": "A TURN server needs a username.",
        "sip.turnPassword": "A TURN server needs a password.",
    }
    assert App.objects.get().turn_server == ""


def test_it_names_every_bad_nat_and_media_setting(api):
    api.post("/api/v1/manage/apps", APP_BODY)
    response = api.patch(
        "/api/v1/manage/apps/AcmeInc",
        {
            "sip": {
                "stunServer": "stun acme",
                "keepAliveSeconds": 4000,
                "audioCodecs": ["opus", "Opus"],
                "videoCodecs": ["theora"],
                "realm": "a\nb",
                "turnUsername": "relay",
            }
        },
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {
        "sip.stunServer": "Use host or host:port, for example sip.example.com:5060.",
        "sip.keepAliveSeconds": "Use 0 (no keep-alives) or 5 to 3600 seconds.",
        "sip.audioCodecs": "The audio codec opus is listed twice.",
        "sip.videoCodecs": "Unknown video codec 'theora'. Use H264, H265, VP8, VP9, AV1.",
        "sip.realm": "A realm is one line of printable ASCII without quotes or backslashes, at most 253 "
        "characters.",
        "sip.turnServer": "Enter the TURN server these credentials are for, or remove them.",
    }


@pytest.mark.parametrize(
    ("sip", "field", "message"),
    [
        ({"srtpMode": "always"}, "sip.srtpMode", "Input should be 'optional' or 'mandatory'"),
        ({"dtmfMode": "sip"}, "sip.dtmfMode", "Input should be 'rfc2833', 'info' or 'inband'"),
        ({"audioCodecs": "opus"}, "sip.audioCodecs", "Input should be a valid list"),
        (
            {"keepAliveSeconds": "often"},
            "sip.keepAliveSeconds",
            "Input should be a valid integer, unable to parse string as an integer",
        ),
    ],
)
def test_it_refuses_nat_and_media_values_of_the_wrong_shape(api, sip, field, message):
    api.post("/api/v1/manage/apps", APP_BODY)
    response = api.patch("/api/v1/manage/apps/AcmeInc", {"sip": sip})
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {field: message}


def test_a_short_theme_colour_is_stored_in_full(api, app):
    response = api.patch("/api/v1/manage/apps/AcmeInc", {"branding": {"themeColor": "#fa0"}})
    assert response.json()["branding"]["themeColor"] == "#FFAA00"


def test_an_ipv6_domain_is_accepted(api, app):
    response = api.patch("/api/v1/manage/apps/AcmeInc", {"sip": {"domain": "[2001:db8::5]:5080"}})
    assert response.json()["sip"]["domain"] == "[2001:db8::5]:5080"


def test_a_registration_expiry_out_of_range_gets_the_range_message(api, app):
    response = api.patch("/api/v1/manage/apps/AcmeInc", {"sip": {"registrationExpires": -1}})
    assert response.json()["error"]["fields"] == {
        "sip.registrationExpires": "Use a registration expiry from 30 to 86400 seconds."
    }


def test_a_voicemail_number_with_markup_is_refused(api, app):
    response = api.patch("/api/v1/manage/apps/AcmeInc", {"sip": {"voicemailNumber": "<script>"}})
    assert response.json()["error"]["fields"] == {
        "sip.voicemailNumber": "Use digits, *, # and + only (at most 32), for example *97."
    }


def test_one_answer_names_every_offending_field_of_every_layer(api):
    body = {
        "providerId": "9lives",
        "name": "Acme",
        "branding": {
            "themeColor": "blue",
            "helpLinks": [{"title": "Billing", "url": "http://acme.example/b"}],
        },
        "sip": {"transport": "UDP"},
    }
    response = api.post("/api/v1/manage/apps", body)
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "invalid_request",
        "message": "Some fields are not valid: branding.helpLinks, branding.themeColor, providerId, "
        "sip.domain.",
        "fields": {
            "providerId": "A ProviderId has 3 to 32 characters, ASCII letters and digits only, and starts "
            "with "
            "a letter.",
            "branding.themeColor": "Use a colour of the form #RRGGBB or #RGB, for example #0A7CFF.",
            "branding.helpLinks": "Help link 1: Help links must be https:// URLs.",
            "sip.domain": "This field is required.",
        },
    }
    assert App.objects.count() == 0


def test_schema_errors_come_with_the_models_errors_of_the_rest(api):
    response = api.post(
        "/api/v1/manage/apps",
        {
            **APP_BODY,
            "enabled": "maybe",
            "colour": "#000000",
            "branding": {"themeColor": "blue"},
            "sip": {**APP_BODY["sip"], "transport": "SCTP", "domain": "bad domain"},
        },
    )
    assert response.json()["error"]["fields"] == {
        "enabled": "Input should be a valid boolean, unable to interpret input",
        "colour": "This field is not known.",
        "sip.transport": "Input should be 'UDP', 'TCP' or 'TLS'",
        "branding.themeColor": "Use a colour of the form #RRGGBB or #RGB, for example #0A7CFF.",
        "sip.domain": "Use host or host:port, for example sip.example.com:5060.",
    }


def test_a_field_of_the_wrong_type_is_named_once_not_also_as_missing(api):
    response = api.post("/api/v1/manage/apps", {**APP_BODY, "sip": {**APP_BODY["sip"], "domain": 5060}})
    assert response.json()["error"]["fields"] == {"sip.domain": "Input should be a valid string"}


def test_a_patch_names_every_offending_field_too(api, app):
    response = api.patch(
        "/api/v1/manage/apps/AcmeInc",
        {
            "providerId": "Other",
            "branding": {"themeColor": "red"},
            "sip": {"srtp": "Maybe", "registrationExpires": 5},
        },
    )
    assert response.json()["error"]["fields"] == {
        "providerId": "Phones in the field hold the ProviderId: only an operator can change it.",
        "branding.themeColor": "Use a colour of the form #RRGGBB or #RGB, for example #0A7CFF.",
        "sip.srtp": "Input should be 'Enabled' or 'Disabled'",
        "sip.registrationExpires": "Use a registration expiry from 30 to 86400 seconds.",
    }
    app.refresh_from_db()
    assert (app.theme_color, app.registration_expires) == ("#0A7CFF", 600)
