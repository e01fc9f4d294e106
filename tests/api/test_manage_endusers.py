from __future__ import annotations

import pytest

from sessioncloud.accounts.models import AuditEntry
from sessioncloud.codes.qr import decode_image
from sessioncloud.providers.models import EndUser
from tests.factories import make_app, make_end_user

pytestmark = pytest.mark.django_db
BASE = "/api/v1/manage/apps/AcmeInc/endusers"
SIP_USER = {"displayName": "Alice", "email": "alice@acme.example",
            "sip": {"sipusername": "2001", "sippassword": "29de?8", "subdomain": "pbx", "transport": "TLS"},
            "provisioning": None}


def test_put_creates_then_replaces_idempotently(api, app):
    first = api.put(f"{BASE}/alice", SIP_USER)
    assert first.status_code == 201, first.content
    assert first.json()["sip"] == {"sipusername": "2001", "subdomain": "pbx", "authusername": None,
                                   "transport": "TLS", "srtp": None, "messaging": None, "video": None,
                                   "callrecording": None, "sippasswordSet": True}
    second = api.put(f"{BASE}/alice", SIP_USER)
    assert second.status_code == 200
    assert EndUser.objects.count() == 1
    assert EndUser.objects.get().sip_password == "29de?8"


def test_reads_never_show_passwords(api, app):
    api.put(f"{BASE}/alice", SIP_USER)
    for response in (api.get(f"{BASE}/alice"), api.get(BASE)):
        assert "29de?8" not in response.content.decode()
    assert "29de?8" not in str(list(AuditEntry.objects.values_list("after", flat=True)))


def test_a_replace_is_audited_as_the_portal_audits_it_without_times(api, app):
    api.put(f"{BASE}/alice", SIP_USER)
    api.put(f"{BASE}/alice", {**SIP_USER, "displayName": "Alice Smith"})
    entry = AuditEntry.objects.get(action="enduser.replace")
    changed = {key for key in entry.after if entry.before[key] != entry.after[key]}
    assert (sorted(entry.after), changed) == (
        ["displayName", "email", "externalId", "provisioning", "sip"], {"displayName"})


def test_a_get_can_be_put_back_and_keeps_the_password(api, app):
    api.put(f"{BASE}/alice", SIP_USER)
    read = api.get(f"{BASE}/alice").json()
    assert api.put(f"{BASE}/alice", read).status_code == 200
    assert EndUser.objects.get().sip_password == "29de?8"


def test_it_names_every_bad_field(api, app):
    response = api.put(f"{BASE}/bob", {"email": "nope", "sip": {"sipusername": "2002", "transport": "SCTP"}})
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"sip.transport": "Input should be 'UDP', 'TCP' or 'TLS'"}
    response = api.put(f"{BASE}/bob", {"email": "nope", "sip": {"sipusername": "2002"}})
    assert response.json()["error"]["fields"] == {"email": "Enter a valid email address.",
                                                  "sip.sippassword": "This field is required."}
    response = api.put(f"{BASE}/bob", {"displayName": "Nobody"})
    assert response.json()["error"]["fields"] == {"sip": "Give SIP credentials, provisioning credentials, or both."}
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


def test_another_organizations_end_users_are_404(api, other_api, app):
    api.put(f"{BASE}/alice", SIP_USER)
    for response in (other_api.get(f"{BASE}/alice"), other_api.get(BASE),
                     other_api.put(f"{BASE}/alice", SIP_USER), other_api.delete(f"{BASE}/alice"),
                     other_api.get(f"{BASE}/alice/code"), other_api.post(f"{BASE}/alice/tokens", {})):
        assert response.status_code == 404
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
        '"subdomain":"pbx"}]}')


@pytest.mark.parametrize(("body", "field"), [
    ({**SIP_USER, "displayName": "Alice\nSmith"}, "displayName"),
    ({**SIP_USER, "sip": {**SIP_USER["sip"], "sipusername": "20\r01"}}, "sip.sipusername"),
    ({**SIP_USER, "sip": {**SIP_USER["sip"], "sippassword": "pw\x01"}}, "sip.sippassword"),
    ({**SIP_USER, "sip": {**SIP_USER["sip"], "authusername": "a\tb"}}, "sip.authusername"),
    ({**SIP_USER, "sip": {**SIP_USER["sip"], "subdomain": "pbx\x7f"}}, "sip.subdomain"),
])
def test_what_goes_into_codes_must_be_one_line(api, app, body, field):
    response = api.put(f"{BASE}/alice", body)
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {field: "This must be one line without control characters."}
    assert not EndUser.objects.exists()


def test_a_stored_display_name_no_code_can_carry_is_left_out(api, app):
    make_end_user(app, "alice", display_name="Alice\x01", sip_password="pw")
    assert api.get(f"{BASE}/alice/code?format=local").json()["code"] == (
        'scloc:AcmeInc|{"sipaccounts":[{"sipusername":"2001","sippassword":"pw"}]}')


def test_a_stored_sip_username_no_code_can_carry_is_explained_not_a_crash(api, app):
    make_end_user(app, "alice", sip_username="20\n01")
    response = api.get(f"{BASE}/alice/code?format=local")
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {
        "format": "the SIP credentials cannot be put in a code: sipusername: Value error, must not contain "
                  "control characters"}


def test_a_whitelabel_code_leaves_the_provider_id_out(api, org):
    make_app(org, "WhiteCo", kind="whitelabel")
    api.put("/api/v1/manage/apps/WhiteCo/endusers/alice", SIP_USER)
    code = api.get("/api/v1/manage/apps/WhiteCo/endusers/alice/code").json()["code"]
    assert code.startswith('scloc:{"sipaccounts"')


def test_the_external_code_and_its_qr_image(api, org):
    make_app(org, "ExtCo", provisioning_mode="external", provisioning_url="https://prov.example/p")
    api.put("/api/v1/manage/apps/ExtCo/endusers/u1", {"provisioning": {"username": "1000", "password": "1234"}})
    text = api.get("/api/v1/manage/apps/ExtCo/endusers/u1/code?format=external").json()["code"]
    assert text == "scsc:1000:1234:ExtCo"
    image = api.get("/api/v1/manage/apps/ExtCo/endusers/u1/code?format=external&image=png")
    assert image["Content-Type"] == "image/png"
    assert image["Cache-Control"] == "no-store"
    assert decode_image(image.content) == text
    svg = api.get("/api/v1/manage/apps/ExtCo/endusers/u1/code?format=external&image=svg")
    assert svg["Content-Type"] == "image/svg+xml" and svg.content.startswith(b"<?xml")


def test_a_password_with_a_colon_has_no_external_code(api, org):
    make_app(org, "ExtCo", provisioning_mode="external", provisioning_url="https://prov.example/p")
    api.put("/api/v1/manage/apps/ExtCo/endusers/u1", {"provisioning": {"username": "1000", "password": "12:34"}})
    response = api.get("/api/v1/manage/apps/ExtCo/endusers/u1/code?format=external")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "code_unavailable"
    assert "12:34" not in response.content.decode()


def test_a_user_without_sip_credentials_has_no_local_code(api, org):
    make_app(org, "ExtCo", provisioning_mode="external", provisioning_url="https://prov.example/p")
    api.put("/api/v1/manage/apps/ExtCo/endusers/u1", {"provisioning": {"username": "1000", "password": "1234"}})
    response = api.get("/api/v1/manage/apps/ExtCo/endusers/u1/code?format=local")
    assert response.status_code == 422
    assert response.json()["error"]["message"] == (
        "No local code for this end user: this end user has no SIP credentials for a local code.")
