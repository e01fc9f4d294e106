from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from sessioncloud.api.errors import ApiError
from sessioncloud.api.phone import begin_provision
from sessioncloud.api.schemas import ProvisionIn
from sessioncloud.providers import outbound
from sessioncloud.providers.models import Device, DeviceStatus, ProvisioningLogEntry
from sessioncloud.providers.provision import Client as PhoneClient
from sessioncloud.provisioning.breaker import MemoryBreakerStore, RedisBreakerStore
from sessioncloud.provisioning.signing import verify
from tests.factories import MEDIA_DEFAULTS, make_app
from tests.providerstub import silent, slow_drip

pytestmark = pytest.mark.django_db

ACCOUNT = {"sipusername": "1000", "sippassword": "sip-pass-1000"}
MERGED_1000 = {
    "sipusername": "1000",
    "sippassword": "sip-pass-1000",
    "authusername": "1000",
    "displayname": "1000",
    "domain": "sip.ext.example",
    "port": 5070,
    "proxy": None,
    "transport": "UDP",
    "srtp": "Disabled",
    "messaging": "Enabled",
    "video": "Disabled",
    "callrecording": "Disabled",
    "subdomain": None,
    "voicemailNumber": None,
    "registrationExpires": 600,
    **MEDIA_DEFAULTS,
}


def provision(body: dict, remote_addr: str = "127.0.0.1", **headers: str):
    payload = {"password": "1234", "deviceId": "dev-1", **body}
    return Client().post(
        "/api/v1/provision",
        data=json.dumps(payload),
        content_type="application/json",
        headers=headers,
        REMOTE_ADDR=remote_addr,
    )


def test_it_provisions_one_account_merged_with_the_app_profile(external_app, provider):
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT], "errmsg": ""})
    response = provision(
        {"providerId": "ExtInc", "username": "1000", "app": {"platform": "ios", "version": "6.0.0"}}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body == {
        "update": True,
        "errmsg": "",
        "configVersion": body["configVersion"],
        "sipaccounts": [MERGED_1000],
        "xmppaccounts": [],
    }
    config = Client().get("/api/v1/providers/ExtInc/config").json()
    assert body["configVersion"] == config["version"]


def test_it_sends_the_compatible_request_with_auth_and_signature(external_app, provider):
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT]})
    provision({"providerId": "extinc", "username": "1000", "reprovision": True})
    received = provider.requests[0]
    url = urlsplit(received.path)
    assert url.path == "/provisioning"
    assert parse_qs(url.query) == {
        "username": ["1000"],
        "password": ["1234"],
        "reprovision": ["true"],
        "deviceId": ["dev-1"],
    }
    headers = {k.lower(): v for k, v in received.headers.items()}
    assert headers["authorization"] == "Bearer upstream-s3cret"
    assert headers["user-agent"].startswith("SessionCloud/")
    assert headers["accept"] == "application/json"
    timestamp = headers["x-sessioncloud-timestamp"]
    assert verify(
        headers["x-sessioncloud-signature"],
        external_app.signing_secret_list()[0],
        timestamp,
        "GET",
        received.path,
        now=int(timestamp),
    )


def test_it_merges_several_accounts_with_every_optional_field(external_app, provider):
    full = {
        "sipusername": "1001",
        "sippassword": "p2",
        "transport": "tls",
        "subdomain": "pbx7",
        "authusername": "auth1001",
        "displayname": "Reception",
        "srtp": True,
        "messaging": "disabled",
        "video": "ENABLED",
        "callrecording": False,
        "unknown": "ignored",
    }
    provider.answer_json({"update": "true", "sipaccounts": [ACCOUNT, full], "errmsg": "Welcome"})
    body = provision({"providerId": "ExtInc", "username": "1000"}).json()
    assert body["update"] is True and body["errmsg"] == "Welcome"
    assert body["sipaccounts"][1] == {
        "sipusername": "1001",
        "sippassword": "p2",
        "authusername": "auth1001",
        "displayname": "Reception",
        "domain": "pbx7.sip.ext.example",
        "port": 5070,
        "proxy": None,
        "transport": "TLS",
        "srtp": "Enabled",
        "messaging": "Disabled",
        "video": "Enabled",
        "callrecording": "Disabled",
        "subdomain": "pbx7",
        "voicemailNumber": None,
        "registrationExpires": 600,
        **MEDIA_DEFAULTS,
    }


def test_merged_accounts_carry_the_nat_and_media_settings_with_the_turn_credentials(org, provider):
    make_app(
        org,
        "NatInc",
        sip_domain="sip.ext.example:5070",
        sip_transport="UDP",
        provisioning_mode="external",
        provisioning_url=provider.url(),
        stun_server="stun.ext.example:3478",
        turn_server="turn.ext.example",
        turn_username="relay",
        turn_password="turn-s3cret",
        ice_enabled=True,
        keepalive_seconds=15,
        srtp_mode="mandatory",
        audio_codecs=["G722", "PCMA"],
        video_codecs=["VP8"],
        dtmf_mode="info",
        sip_realm="ext",
    )
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT]})
    [account] = provision({"providerId": "NatInc", "username": "1000"}).json()["sipaccounts"]
    assert account == {
        **MERGED_1000,
        "stunServer": "stun.ext.example:3478",
        "turnServer": "turn.ext.example",
        "turnUsername": "relay",
        "turnPassword": "turn-s3cret",
        "ice": True,
        "keepAliveSeconds": 15,
        "srtpMode": "mandatory",
        "audioCodecs": ["G722", "PCMA"],
        "videoCodecs": ["VP8"],
        "dtmfMode": "info",
        "realm": "ext",
    }


def test_the_test_bench_shows_that_a_turn_password_is_set_but_not_which(api, external_app, provider):
    external_app.turn_server, external_app.turn_username, external_app.turn_password = (
        "turn.ext.example",
        "relay",
        "turn-s3cret",
    )
    external_app.save()
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT]})
    response = api.post(
        "/api/v1/manage/apps/ExtInc/provisioning/test", {"username": "1000", "password": "pw"}
    )
    assert response.json()["answer"]["sipaccounts"][0]["turnPassword"] == "***"
    assert "turn-s3cret" not in response.content.decode()


def test_the_combined_username_names_the_provider(external_app, provider):
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT]})
    assert provision({"username": "user:with:colons:ExtInc"}).status_code == 200
    assert parse_qs(urlsplit(provider.requests[0].path).query)["username"] == ["user:with:colons"]


def test_the_providers_rejection_passes_through(external_app, provider):
    provider.answer_json({"update": False, "sipaccounts": [], "errmsg": "Wrong PIN, 2 tries left."})
    response = provision({"providerId": "ExtInc", "username": "1000"})
    assert response.status_code == 200
    assert response.json()["errmsg"] == "Wrong PIN, 2 tries left."
    assert response.json()["sipaccounts"] == []
    assert ProvisioningLogEntry.objects.get().outcome == "rejected"


@pytest.mark.parametrize(
    ("body", "errmsg"),
    [
        (b'{"update":true,"errmsg":"Invalid Device"}', "Invalid Device"),
        (b'{"update":true,"errmsg":"Max Devices Exceeded"}', "Max Devices Exceeded"),
        (b'{"update":true,"errmsg":"Expired Key"}', "Expired Key"),
    ],
)
def test_a_logout_answer_without_sipaccounts_passes_through_as_no_accounts(
    external_app, provider, body, errmsg
):
    provider.answer(200, body, {"Content-Type": "text/html"})
    response = provision({"providerId": "ExtInc", "username": "1000", "reprovision": True})
    assert response.status_code == 200
    assert response.json() == {
        "update": True,
        "errmsg": errmsg,
        "configVersion": response.json()["configVersion"],
        "sipaccounts": [],
        "xmppaccounts": [],
    }
    assert ProvisioningLogEntry.objects.get().outcome == "rejected"


@pytest.mark.parametrize(
    ("setup", "status", "code"),
    [
        (lambda p: p.answer_json({"error": "no"}, status=403), 502, "provider_error"),
        (lambda p: p.answer_json({"error": "boom"}, status=500), 502, "provider_error"),
        (
            lambda p: p.answer(200, b"<html>not json</html>", {"Content-Type": "text/html"}),
            502,
            "provider_bad_response",
        ),
        (
            lambda p: p.answer_json({"update": True, "sipaccounts": [{"sipusername": 5}]}),
            502,
            "provider_bad_response",
        ),
        (lambda p: p.answer_json([1, 2, 3]), 502, "provider_bad_response"),
        (lambda p: p.answer(302, b"", {"Location": "http://169.254.169.254/"}), 502, "provider_bad_response"),
        (
            lambda p: p.answer(200, b'{"update":true,"sipaccounts":[],"errmsg":"' + b"x" * 300_000 + b'"}'),
            502,
            "provider_bad_response",
        ),
        (lambda p: setattr(p, "behaviour", silent), 504, "provider_timeout"),
        (
            lambda p: setattr(p, "behaviour", slow_drip(b'{"update":true,"sipaccounts":[]}', 0.2)),
            504,
            "provider_timeout",
        ),
    ],
)
def test_upstream_failures_get_their_code_and_a_sentence(external_app, provider, setup, status, code):
    setup(provider)
    response = provision({"providerId": "ExtInc", "username": "1000"})
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"].endswith(".") and "provider" in error["message"]
    entry = ProvisioningLogEntry.objects.get()
    assert (entry.outcome, entry.error_code) == ("failed", code)
    assert entry.detail


def test_an_unreachable_provider_is_502(org):
    make_app(org, "DeadInc", provisioning_mode="external", provisioning_url="http://127.0.0.1:9/provisioning")
    response = provision({"providerId": "DeadInc", "username": "1000"})
    assert (response.status_code, response.json()["error"]["code"]) == (502, "provider_unreachable")


def test_a_refused_address_is_never_called(org, settings):
    settings.OUTBOUND_ALLOW_NETS = ()
    make_app(org, "LoopInc", provisioning_mode="external", provisioning_url="https://127.0.0.1/provisioning")
    response = provision({"providerId": "LoopInc", "username": "1000"})
    assert (response.status_code, response.json()["error"]["code"]) == (502, "provider_unreachable")
    assert "refused" in ProvisioningLogEntry.objects.get().detail


def test_a_deactivated_device_is_told_to_deprovision_without_calling_upstream(external_app, provider):
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT]})
    provision({"providerId": "ExtInc", "username": "1000"})
    Device.objects.filter(device_id="dev-1").update(status=DeviceStatus.DEACTIVATED)
    response = provision({"providerId": "ExtInc", "username": "1000", "reprovision": True})
    assert response.json() == {
        "update": True,
        "errmsg": "This device was deactivated by your provider.",
        "configVersion": response.json()["configVersion"],
        "sipaccounts": [],
        "xmppaccounts": [],
    }
    assert len(provider.requests) == 1


def test_deactivating_through_the_management_api(api, external_app, provider):
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT]})
    provision({"providerId": "ExtInc", "username": "1000"})
    listing = api.get("/api/v1/manage/apps/ExtInc/devices").json()
    assert [(d["deviceId"], d["status"], d["lastResult"]) for d in listing] == [("dev-1", "active", "ok")]
    assert api.post("/api/v1/manage/apps/ExtInc/devices/dev-1/deactivate").json()["status"] == "deactivated"
    assert provision({"providerId": "ExtInc", "username": "1000"}).json()["sipaccounts"] == []


def test_reprovisioning_without_a_change_answers_update_false(external_app, provider):
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT]})
    assert provision({"providerId": "ExtInc", "username": "1000"}).json()["update"] is True
    again = provision({"providerId": "ExtInc", "username": "1000", "reprovision": True}).json()
    assert again["update"] is False
    provider.answer_json({"update": True, "sipaccounts": [{**ACCOUNT, "sippassword": "rotated"}]})
    changed = provision({"providerId": "ExtInc", "username": "1000", "reprovision": True}).json()
    assert changed["update"] is True and changed["sipaccounts"][0]["sippassword"] == "rotated"


def test_a_portal_mode_app_refuses_provisioning(app):
    response = provision({"providerId": "AcmeInc", "username": "1000"})
    assert (response.status_code, response.json()["error"]["code"]) == (409, "external_provisioning_disabled")


@pytest.mark.parametrize(
    "body",
    [
        {"providerId": "Nobody", "username": "1"},
        {"username": "1:Nobody"},
        {"providerId": "bad id!", "username": "1"},
    ],
)
def test_unknown_providers_are_404(db, body):
    response = provision(body)
    assert (response.status_code, response.json()["error"]["code"]) == (404, "provider_not_found")


def test_each_refusal_is_an_error_of_its_own(db):
    # An exception object raised again adds to its traceback, keeping every frame alive: a shared
    # one would grow with each unknown ProviderId a flood of phones sends.
    payload = ProvisionIn(providerId="Nobody", username="1", password="x", deviceId="dev-1")
    refusals = []
    for _ in range(3):
        with pytest.raises(ApiError) as raised:
            begin_provision(payload, PhoneClient(device_id="dev-1", ip="127.0.0.1"))
        refusals.append(raised.value)
    assert refusals[0] is not refusals[1] is not refusals[2]
    assert len({traceback_depth(error) for error in refusals}) == 1


def traceback_depth(error: BaseException) -> int:
    depth, frame = 0, error.__traceback__
    while frame is not None:
        depth, frame = depth + 1, frame.tb_next
    return depth


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"username": "1000"}, {"providerId"}),
        ({"providerId": "ExtInc"}, {"username"}),
        ({"providerId": "ExtInc", "username": "1000", "deviceId": ""}, {"deviceId"}),
        ({"providerId": "ExtInc", "username": "1000", "reprovision": "often"}, {"reprovision"}),
    ],
)
def test_malformed_requests_name_the_field(external_app, body, fields):
    response = provision(body)
    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) == fields


def test_rate_limits_per_user_answer_429_with_retry_after(external_app, provider, settings):
    settings.RATE_LIMITS = "provision_user=3/m"
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT]})
    statuses = [provision({"providerId": "ExtInc", "username": "1000"}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = provision({"providerId": "ExtInc", "username": "1000"})
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert provision({"providerId": "ExtInc", "username": "1001"}).status_code == 200
    assert len(provider.requests) == 4


def test_rate_limits_per_ip(external_app, provider, settings):
    settings.RATE_LIMITS = "provision_ip=2/m,provision_user=off"
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT]})
    statuses = [provision({"providerId": "ExtInc", "username": f"u{i}"}).status_code for i in range(3)]
    assert statuses == [200, 200, 429]


def test_no_secret_reaches_a_log_line_or_the_provisioning_log(external_app, provider, caplog):
    caplog.set_level(logging.DEBUG)
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT]})
    provision({"providerId": "ExtInc", "username": "1000", "password": "pw-XYZZY"})
    provider.answer(500, b"oops")
    provision({"providerId": "ExtInc", "username": "1000", "password": "pw-XYZZY"})
    secrets = ("pw-XYZZY", "sip-pass-1000", "upstream-s3cret", *external_app.signing_secret_list())
    rows = json.dumps(list(ProvisioningLogEntry.objects.values()), default=str)
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in rows


def test_the_test_bench_shows_the_call_with_secrets_masked(api, external_app, provider):
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT, {"sipusername": 7}]})
    report = api.post(
        "/api/v1/manage/apps/ExtInc/provisioning/test", {"username": "1000", "password": "bench-pw"}
    ).json()
    assert report["errorCode"] == "provider_bad_response"
    assert report["validationErrors"] == [
        "sipaccounts[1].sipusername: Input should be a valid string",
        "sipaccounts[1].sippassword: missing",
    ]
    assert report["request"]["method"] == "GET"
    assert "bench-pw" not in json.dumps(report["request"])
    assert report["request"]["headers"]["Authorization"] == "***"
    assert report["rawAnswer"].startswith('{"update": true')
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT]})
    good = api.post(
        "/api/v1/manage/apps/ExtInc/provisioning/test", {"username": "1000", "password": "bench-pw"}
    ).json()
    assert good["errorCode"] is None and good["status"] == 200
    assert good["answer"]["sipaccounts"] == [MERGED_1000]


def test_the_test_bench_gives_the_same_verdicts_as_the_provisioning_log(api, external_app, provider):
    verdicts = []
    for answer in (
        {"update": True, "sipaccounts": [ACCOUNT]},
        {"update": False, "errmsg": "No", "sipaccounts": []},
        {"update": True, "sipaccounts": [{"sipusername": 7}]},
    ):
        provider.answer_json(answer)
        verdicts.append(
            api.post(
                "/api/v1/manage/apps/ExtInc/provisioning/test", {"username": "1000", "password": "bench-pw"}
            ).json()["outcome"]
        )
    assert verdicts == ["ok", "rejected", "failed"]
    logged = ProvisioningLogEntry.objects.order_by("id").values_list("outcome", flat=True)
    assert list(logged) == ["ok", "rejected", "failed"]


def test_the_provisioning_log_lists_newest_first_and_filters(api, external_app, provider):
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT]})
    provision({"providerId": "ExtInc", "username": "1000"})
    provider.answer(500, b"")
    provision({"providerId": "ExtInc", "username": "1000"})
    entries = api.get("/api/v1/manage/apps/ExtInc/provisioning-log").json()
    assert [(e["outcome"], e["errorCode"]) for e in entries] == [("failed", "provider_error"), ("ok", None)]
    failed = api.get("/api/v1/manage/apps/ExtInc/provisioning-log?outcome=failed").json()
    assert len(failed) == 1 and failed[0]["upstreamStatus"] == 500
    assert api.get("/api/v1/manage/apps/ExtInc/provisioning-log?outcome=nope").status_code == 422


def test_one_caller_making_the_service_fail_does_not_open_the_breaker_for_everyone(external_app, provider):
    provider.answer(500, b"this username breaks us")
    for attempt in range(10):
        assert provision({"providerId": "ExtInc", "username": f"boom{attempt}"}).status_code == 502
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT]})

    response = provision({"providerId": "ExtInc", "username": "1000"}, remote_addr="198.51.100.7")

    assert response.status_code == 200
    assert len(provider.requests) == 11


@pytest.fixture
def breaker_resets(monkeypatch) -> list[tuple[str, ...]]:
    """The resets the breaker asks its store for, in-process or in Redis, whichever is in use."""
    resets: list[tuple[str, ...]] = []
    for store in (MemoryBreakerStore, RedisBreakerStore):

        def delete(self, *keys: str, _delete=store.delete) -> None:
            resets.append(keys)
            _delete(self, *keys)

        monkeypatch.setattr(store, "delete", delete)
    return resets


def test_a_healthy_provider_call_asks_the_breaker_store_for_no_reset(external_app, provider, breaker_resets):
    # With Redis each reset is a round trip; the breaker that checked the provider clean is the
    # one told of the success, so it knows there is nothing to reset.
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT]})

    for _ in range(3):
        assert provision({"providerId": "ExtInc", "username": "1000"}).status_code == 200

    assert breaker_resets == []


def test_a_success_after_failures_resets_the_breaker(external_app, provider, breaker_resets):
    provider.answer(503, b"overloaded")
    for caller in range(4):  # one short of opening it
        provision({"providerId": "ExtInc", "username": "1000"}, remote_addr=f"198.51.100.{caller + 1}")
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT]})
    assert provision({"providerId": "ExtInc", "username": "1000"}).status_code == 200
    provider.answer(503, b"overloaded")
    for caller in range(4):  # four more callers: still one short, the earlier four are forgotten
        provision({"providerId": "ExtInc", "username": "1000"}, remote_addr=f"198.51.100.{caller + 11}")

    assert (len(breaker_resets), outbound.breaker_for(external_app.pk).state()) == (1, "closed")


def test_failures_from_as_many_callers_as_the_threshold_open_the_breaker(external_app, provider):
    provider.answer(503, b"overloaded")
    for caller in range(5):
        provision({"providerId": "ExtInc", "username": "1000"}, remote_addr=f"198.51.100.{caller + 1}")

    response = provision({"providerId": "ExtInc", "username": "1000"}, remote_addr="198.51.100.99")

    assert (response.status_code, len(provider.requests)) == (502, 5)
    assert ProvisioningLogEntry.objects.order_by("-id").first().detail == "circuit open"
