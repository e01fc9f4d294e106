from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from sessioncloud.codes.formats import parse_code
from sessioncloud.providers import tokens
from sessioncloud.providers.models import (
    Device,
    ProvisioningLogEntry,
    SetupToken,
    TokenRedemption,
    hash_token,
)
from sessioncloud.providers.tokens import claim, issue_token
from tests.factories import MEDIA_DEFAULTS, make_app, make_end_user

pytestmark = pytest.mark.django_db
INVALID = {
    "error": {
        "code": "token_invalid",
        "message": "This setup code is not valid. It may have expired or "
        "been used already; ask your provider for a new one.",
    }
}


def post_redeem(token: str, device_id: str = "dev-1", **headers: str):
    return Client().post(
        "/api/v1/tokens/redeem",
        data=json.dumps(
            {"token": token, "deviceId": device_id, "app": {"platform": "android", "version": "6.1"}}
        ),
        content_type="application/json",
        headers={"User-Agent": "TestPhone/1.0", **headers},
    )


def test_the_management_api_issues_a_token_shown_once(api, app):
    make_end_user(app, "alice")
    response = api.post("/api/v1/manage/apps/AcmeInc/endusers/alice/tokens", {"ttlHours": 24, "maxUses": 2})
    assert response.status_code == 201
    body = response.json()
    assert parse_code(body["code"]).token == body["token"]
    assert body["link"] == body["code"]
    stored = SetupToken.objects.get(pk=body["id"])
    assert stored.token_hash == hash_token(body["token"])
    assert (stored.max_uses, stored.uses) == (2, 0)
    assert body["token"] not in api.get("/api/v1/manage/apps/AcmeInc/tokens").content.decode()
    assert len(body["token"]) >= 22  # at least 128 bits in URL-safe base64


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ttlHours": 0}, "ttlHours"),
        ({"ttlHours": 721}, "ttlHours"),
        ({"maxUses": 6}, "maxUses"),
        ({"maxUses": 0}, "maxUses"),
    ],
)
def test_it_refuses_out_of_range_token_settings(api, app, body, field):
    make_end_user(app, "alice")
    response = api.post("/api/v1/manage/apps/AcmeInc/endusers/alice/tokens", body)
    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) == {field}


def test_redeeming_answers_config_and_merged_accounts_once(app):
    user = make_end_user(app, "alice")
    issued = issue_token(user)
    response = post_redeem(issued.plain)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["providerId"] == "AcmeInc"
    assert body["config"]["providerId"] == "AcmeInc"
    assert body["configVersion"] == body["config"]["version"]
    assert (body["update"], body["errmsg"], body["xmppaccounts"]) == (True, "", [])
    assert body["sipaccounts"] == [
        {
            "sipusername": "2001",
            "sippassword": "alice-secret",
            "authusername": "2001",
            "displayname": "Alice",
            "domain": "sip.acme.example",
            "port": 5061,
            "proxy": None,
            "transport": "TLS",
            "srtp": "Disabled",
            "messaging": "Enabled",
            "video": "Disabled",
            "callrecording": "Disabled",
            "subdomain": None,
            "voicemailNumber": None,
            "registrationExpires": 600,
            **MEDIA_DEFAULTS,
        }
    ]
    assert post_redeem(issued.plain).json() == INVALID
    redemption = TokenRedemption.objects.get()
    assert (redemption.device_id, redemption.ip, redemption.user_agent) == (
        "dev-1",
        "127.0.0.1",
        "TestPhone/1.0",
    )
    device = Device.objects.get()
    assert (device.platform, device.app_version, device.end_user) == ("android", "6.1", user)
    assert ProvisioningLogEntry.objects.get().flow == "token"


def test_a_redeemed_token_gives_the_phone_the_users_display_name(app):
    user = make_end_user(app, "desk", display_name="Front Desk")
    assert [a["displayname"] for a in post_redeem(issue_token(user).plain).json()["sipaccounts"]] == [
        "Front Desk"
    ]


def test_a_user_without_a_display_name_is_shown_by_the_sip_username(app):
    user = make_end_user(app, "desk", display_name="")
    assert [a["displayname"] for a in post_redeem(issue_token(user).plain).json()["sipaccounts"]] == ["2001"]


def test_a_stored_display_name_no_account_can_carry_does_not_stop_a_token(app):
    user = make_end_user(app, "desk", display_name="Front\x01Desk")
    response = post_redeem(issue_token(user).plain)
    assert response.status_code == 200
    assert [a["displayname"] for a in response.json()["sipaccounts"]] == ["2001"]


def test_unknown_expired_used_and_revoked_tokens_look_the_same(app):
    user = make_end_user(app, "alice")
    expired, revoked, used = issue_token(user), issue_token(user), issue_token(user)
    SetupToken.objects.filter(pk=expired.token.pk).update(expires=timezone.now() - timedelta(seconds=1))
    SetupToken.objects.filter(pk=revoked.token.pk).update(revoked=timezone.now())
    assert post_redeem(used.plain).status_code == 200
    for token in ("A" * 32, expired.plain, revoked.plain, used.plain, "not a token!", "x" * 199):
        response = post_redeem(token)
        assert (response.status_code, response.json()) == (404, INVALID)


def test_a_token_allows_as_many_uses_as_it_was_given(app):
    issued = issue_token(make_end_user(app, "alice"), max_uses=3)
    statuses = [post_redeem(issued.plain, f"dev-{i}").status_code for i in range(4)]
    assert statuses == [200, 200, 200, 404]


def test_the_manager_sees_which_invalid_state_a_token_is_in(api, app):
    user = make_end_user(app, "alice")
    used, revoked = issue_token(user), issue_token(user)
    post_redeem(used.plain)
    assert api.delete(f"/api/v1/manage/tokens/{revoked.token.pk}").status_code == 204
    listing = {t["id"]: t for t in api.get("/api/v1/manage/apps/AcmeInc/tokens").json()}
    assert listing[used.token.pk]["status"] == "used"
    assert listing[used.token.pk]["redemptions"][0]["deviceId"] == "dev-1"
    assert listing[revoked.token.pk]["status"] == "revoked"
    assert post_redeem(revoked.plain).status_code == 404


def test_another_organization_cannot_revoke_a_token(other_api, app):
    issued = issue_token(make_end_user(app, "alice"))
    assert other_api.delete(f"/api/v1/manage/tokens/{issued.token.pk}").status_code == 404
    assert post_redeem(issued.plain).status_code == 200


def test_a_token_of_a_disabled_app_is_invalid(app):
    issued = issue_token(make_end_user(app, "alice"))
    app.enabled = False
    app.save()
    assert post_redeem(issued.plain).json() == INVALID


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_redeems_of_a_single_use_token_let_exactly_one_through(org):
    app = make_app(org)
    issued = issue_token(make_end_user(app, "alice"))
    barrier = threading.Barrier(8)
    results: list[bool] = []

    def attempt(n: int) -> None:
        barrier.wait()
        try:
            results.append(claim(issued.plain, f"dev-{n}", "127.0.0.1", "race") is not None)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False] * 7 + [True]
    assert SetupToken.objects.get().uses == 1
    assert TokenRedemption.objects.count() == 1


# --- A token is spent only by a redemption that delivered accounts ---------------------------


def external_end_user(external_app):
    return make_end_user(
        external_app,
        "bob",
        sip_username="",
        sip_password="",
        provisioning_username="1000",
        provisioning_password="1234",
    )


def test_a_token_of_a_disabled_app_is_not_used_up(app):
    issued = issue_token(make_end_user(app, "alice"))
    app.enabled = False
    app.save()
    post_redeem(issued.plain)

    issued.token.refresh_from_db()
    assert issued.token.uses == 0
    assert TokenRedemption.objects.count() == 0


def test_a_redemption_the_provider_fails_gives_the_token_back(external_app, provider):
    issued = issue_token(external_end_user(external_app))
    provider.answer(500, b"down")

    response = post_redeem(issued.plain)

    issued.token.refresh_from_db()
    assert (response.status_code, response.json()["error"]["code"]) == (502, "provider_error")
    assert (issued.token.uses, TokenRedemption.objects.count()) == (0, 0)
    provider.answer_json({"update": True, "sipaccounts": [{"sipusername": "1000", "sippassword": "s"}]})
    assert post_redeem(issued.plain).status_code == 200


def test_a_redemption_the_provider_rejects_gives_the_token_back(external_app, provider):
    issued = issue_token(external_end_user(external_app))
    provider.answer_json({"update": True, "sipaccounts": [], "errmsg": "Expired Key"})

    response = post_redeem(issued.plain)

    issued.token.refresh_from_db()
    assert (response.status_code, response.json()["errmsg"], response.json()["sipaccounts"]) == (
        200,
        "Expired Key",
        [],
    )
    assert (issued.token.uses, TokenRedemption.objects.count()) == (0, 0)


def test_a_redemption_that_delivers_accounts_spends_the_token(external_app, provider):
    issued = issue_token(external_end_user(external_app))
    provider.answer_json({"update": True, "sipaccounts": [{"sipusername": "1000", "sippassword": "s"}]})

    assert post_redeem(issued.plain).status_code == 200

    issued.token.refresh_from_db()
    assert (issued.token.uses, TokenRedemption.objects.count()) == (1, 1)
    assert post_redeem(issued.plain).json() == INVALID


def test_a_provisioning_only_user_of_an_app_no_longer_external_gets_a_clear_answer(external_app, provider):
    issued = issue_token(external_end_user(external_app))
    external_app.provisioning_mode = "portal"
    external_app.save()

    response = post_redeem(issued.plain)

    issued.token.refresh_from_db()
    assert (response.status_code, response.json()["error"]["code"]) == (409, "external_provisioning_disabled")
    assert (issued.token.uses, TokenRedemption.objects.count(), provider.requests) == (0, 0, [])
    assert ProvisioningLogEntry.objects.get().error_code == "external_provisioning_disabled"


def test_a_new_token_never_starts_with_a_dash_a_command_line_would_take_for_an_option(monkeypatch):
    drawn = iter(["-starts-with-a-dash", "_fine-token"])
    monkeypatch.setattr(tokens.secrets, "token_urlsafe", lambda size: next(drawn))

    assert tokens.new_plain_token() == "_fine-token"
