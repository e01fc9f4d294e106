from __future__ import annotations

from typing import Any

import pytest

from sessioncloud.accounts.models import AuditEntry, Organization
from sessioncloud.codes.qr import decode_image
from sessioncloud.providers.models import App, EndUser
from tests.conftest import ApiClient
from tests.factories import make_app, make_end_user

pytestmark = pytest.mark.django_db
BASE = "/api/v1/manage/apps/AcmeInc/endusers"
SIP_USER = {
    "displayName": "Alice",
    "email": "alice@acme.example",
    "sip": {"sipusername": "2001", "sippassword": "29de?8", "subdomain": "pbx", "transport": "TLS"},
    "provisioning": None,
}


def put_alice(api: ApiClient, body: dict[str, Any] = SIP_USER) -> Any:
    return api.put(f"{BASE}/alice", body)


def put_bob(api: ApiClient, body: dict[str, Any]) -> dict[str, str]:
    """The fields a refused PUT names, with their messages."""
    response = api.put(f"{BASE}/bob", body)
    assert response.status_code == 422
    return response.json()["error"]["fields"]


def test_a_first_put_creates_the_user_and_answers_it_without_the_password(api: ApiClient, app: App) -> None:
    first = put_alice(api)
    assert first.status_code == 201, first.content
    assert first.json()["sip"] == {
        "sipusername": "2001",
        "subdomain": "pbx",
        "authusername": None,
        "transport": "TLS",
        "srtp": None,
        "messaging": None,
        "video": None,
        "callrecording": None,
        "sippasswordSet": True,
    }


def test_putting_the_same_user_again_replaces_it(api: ApiClient, app: App) -> None:
    put_alice(api)
    second = put_alice(api)
    assert second.status_code == 200
    assert EndUser.objects.count() == 1
    assert EndUser.objects.get().sip_password == "29de?8"


def test_reading_a_user_never_shows_its_password(api: ApiClient, app: App) -> None:
    put_alice(api)
    assert "29de?8" not in api.get(f"{BASE}/alice").content.decode()


def test_listing_users_never_shows_their_passwords(api: ApiClient, app: App) -> None:
    put_alice(api)
    assert "29de?8" not in api.get(BASE).content.decode()


def test_the_audit_log_never_keeps_a_password(api: ApiClient, app: App) -> None:
    put_alice(api)
    assert "29de?8" not in str(list(AuditEntry.objects.values_list("after", flat=True)))


def test_a_replace_is_audited_as_the_portal_audits_it_without_times(api, app):
    api.put(f"{BASE}/alice", SIP_USER)
    api.put(f"{BASE}/alice", {**SIP_USER, "displayName": "Alice Smith"})
    entry = AuditEntry.objects.get(action="enduser.replace")
    changed = {key for key in entry.after if entry.before[key] != entry.after[key]}
    assert (sorted(entry.after), changed) == (
        ["displayName", "email", "externalId", "provisioning", "sip"],
        {"displayName"},
    )


def test_a_get_can_be_put_back_and_keeps_the_password(api, app):
    api.put(f"{BASE}/alice", SIP_USER)
    read = api.get(f"{BASE}/alice").json()
    assert api.put(f"{BASE}/alice", read).status_code == 200
    assert EndUser.objects.get().sip_password == "29de?8"


def test_it_names_a_field_of_an_unknown_value_before_checking_the_rest(api: ApiClient, app: App) -> None:
    fields = put_bob(api, {"email": "nope", "sip": {"sipusername": "2002", "transport": "SCTP"}})
    assert fields == {"sip.transport": "Input should be 'UDP', 'TCP' or 'TLS'"}
    assert EndUser.objects.count() == 0


def test_it_names_every_field_the_rules_refuse(api: ApiClient, app: App) -> None:
    fields = put_bob(api, {"email": "nope", "sip": {"sipusername": "2002"}})
    assert fields == {"email": "Enter a valid email address.", "sip.sippassword": "This field is required."}
    assert EndUser.objects.count() == 0


def test_it_asks_for_some_credentials(api: ApiClient, app: App) -> None:
    fields = put_bob(api, {"displayName": "Nobody"})
    assert fields == {"sip": "Give SIP credentials, provisioning credentials, or both."}
    assert EndUser.objects.count() == 0


@pytest.mark.parametrize("external_id", ["-lead", "a b", "x" * 101, "semi;colon"])
def test_it_refuses_odd_external_ids(api, app, external_id):
    response = api.put(f"{BASE}/{external_id}", SIP_USER)
    assert response.status_code in (404, 422)
    assert EndUser.objects.count() == 0


def test_delete_removes_the_user(api, app):
    api.put(f"{BASE}/alice", SIP_USER)
    assert api.delete(f"{BASE}/alice").status_code == 204
    assert api.get(f"{BASE}/alice").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", f"{BASE}/alice", None),
        ("get", BASE, None),
        ("put", f"{BASE}/alice", SIP_USER),
        ("delete", f"{BASE}/alice", None),
        ("get", f"{BASE}/alice/code", None),
        ("post", f"{BASE}/alice/tokens", {}),
    ],
)
def test_another_organizations_end_users_are_404(
    api: ApiClient, other_api: ApiClient, app: App, method: str, path: str, body: dict[str, Any] | None
) -> None:
    put_alice(api)
    extra = {"body": body} if body is not None else {}
    assert getattr(other_api, method)(path, **extra).status_code == 404
    assert EndUser.objects.get().display_name == "Alice"


def test_the_local_code_carries_the_users_account(api, app):
    api.put(f"{BASE}/alice", SIP_USER)
    response = api.get(f"{BASE}/alice/code?format=local")
    assert response.json() == {
        "format": "local",
        "code": 'scloc:AcmeInc|{"sipaccounts":[{"sipusername":"2001","sippassword":"29de?8",'
        '"transport":"TLS","subdomain":"pbx","displayname":"Alice"}]}',
    }


def test_a_user_without_a_display_name_gets_a_code_without_one(api, app):
    api.put(f"{BASE}/alice", {**SIP_USER, "displayName": None})
    assert api.get(f"{BASE}/alice/code?format=local").json()["code"] == (
        'scloc:AcmeInc|{"sipaccounts":[{"sipusername":"2001","sippassword":"29de?8","transport":"TLS",'
        '"subdomain":"pbx"}]}'
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**SIP_USER, "displayName": "Alice\nSmith"}, "displayName"),
        ({**SIP_USER, "sip": {**SIP_USER["sip"], "sipusername": "20\r01"}}, "sip.sipusername"),
        ({**SIP_USER, "sip": {**SIP_USER["sip"], "sippassword": "pw\x01"}}, "sip.sippassword"),
        ({**SIP_USER, "sip": {**SIP_USER["sip"], "authusername": "a\tb"}}, "sip.authusername"),
        ({**SIP_USER, "sip": {**SIP_USER["sip"], "subdomain": "pbx\x7f"}}, "sip.subdomain"),
    ],
)
def test_what_goes_into_codes_must_be_one_line(api, app, body, field):
    response = api.put(f"{BASE}/alice", body)
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {field: "This must be one line without control characters."}
    assert not EndUser.objects.exists()


def test_a_stored_display_name_no_code_can_carry_is_left_out(api, app):
    make_end_user(app, "alice", display_name="Alice\x01", sip_password="pw")
    assert api.get(f"{BASE}/alice/code?format=local").json()["code"] == (
        'scloc:AcmeInc|{"sipaccounts":[{"sipusername":"2001","sippassword":"pw"}]}'
    )


def test_a_stored_sip_username_no_code_can_carry_is_explained_not_a_crash(api, app):
    make_end_user(app, "alice", sip_username="20\n01")
    response = api.get(f"{BASE}/alice/code?format=local")
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {
        "format": "the SIP credentials cannot be put in a code: sipusername: Value error, must not contain "
        "control characters"
    }


def test_a_whitelabel_code_leaves_the_provider_id_out(api, org):
    make_app(org, "WhiteCo", kind="whitelabel")
    api.put("/api/v1/manage/apps/WhiteCo/endusers/alice", SIP_USER)
    code = api.get("/api/v1/manage/apps/WhiteCo/endusers/alice/code").json()["code"]
    assert code.startswith('scloc:{"sipaccounts"')


EXTERNAL_CODE = "/api/v1/manage/apps/ExtCo/endusers/u1/code?format=external"


@pytest.fixture
def external_user(api: ApiClient, org: Organization) -> None:
    make_app(org, "ExtCo", provisioning_mode="external", provisioning_url="https://prov.example/p")
    login = {"username": "1000", "password": "1234"}
    api.put("/api/v1/manage/apps/ExtCo/endusers/u1", {"provisioning": login})


def test_the_external_code_carries_the_provisioning_login(api: ApiClient, external_user: None) -> None:
    assert api.get(EXTERNAL_CODE).json()["code"] == "scsc:1000:1234:ExtCo"


def test_the_external_code_as_a_png_is_never_cached(api: ApiClient, external_user: None) -> None:
    image = api.get(f"{EXTERNAL_CODE}&image=png")
    assert image["Content-Type"] == "image/png"
    assert image["Cache-Control"] == "no-store"


def test_the_png_of_the_external_code_decodes_to_the_code(api: ApiClient, external_user: None) -> None:
    text = api.get(EXTERNAL_CODE).json()["code"]
    assert decode_image(api.get(f"{EXTERNAL_CODE}&image=png").content) == text


def test_the_external_code_comes_as_an_svg_too(api: ApiClient, external_user: None) -> None:
    svg = api.get(f"{EXTERNAL_CODE}&image=svg")
    assert svg["Content-Type"] == "image/svg+xml" and svg.content.startswith(b"<?xml")


def test_a_password_with_a_colon_has_no_external_code(api, org):
    make_app(org, "ExtCo", provisioning_mode="external", provisioning_url="https://prov.example/p")
    api.put(
        "/api/v1/manage/apps/ExtCo/endusers/u1", {"provisioning": {"username": "1000", "password": "12:34"}}
    )
    response = api.get("/api/v1/manage/apps/ExtCo/endusers/u1/code?format=external")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "code_unavailable"
    assert "12:34" not in response.content.decode()


def test_a_user_without_sip_credentials_has_no_local_code(api, org):
    make_app(org, "ExtCo", provisioning_mode="external", provisioning_url="https://prov.example/p")
    api.put(
        "/api/v1/manage/apps/ExtCo/endusers/u1", {"provisioning": {"username": "1000", "password": "1234"}}
    )
    response = api.get("/api/v1/manage/apps/ExtCo/endusers/u1/code?format=local")
    assert response.status_code == 422
    assert response.json()["error"]["message"] == (
        "No local code for this end user: this end user has no SIP credentials for a local code."
    )
