"""The device ledger, the provisioning log and the App lookup on the provisioning path."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from sessioncloud.providers.ledger import (
    DeviceVisit,
    LogLine,
    device_state,
    record_call,
)
from sessioncloud.providers.lookup import enabled_app_and_device
from sessioncloud.providers.models import Device, DeviceStatus, ProvisioningLogEntry
from tests.providerstub import start_stub, stop_stub

pytestmark = pytest.mark.django_db

ACCOUNT = {"sipusername": "1000", "sippassword": "sip-pass-1000"}


def provision(device_id: str = "dev-1", app: dict | None = None, **body: object):
    payload = {"providerId": "ExtInc", "username": "1000", "password": "1234", "deviceId": device_id, **body}
    if app is not None:
        payload["app"] = app
    return Client().post("/api/v1/provision", data=json.dumps(payload), content_type="application/json")


def test_the_first_call_creates_the_device_and_later_calls_keep_what_they_do_not_say(external_app, provider):
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT]})
    assert provision(app={"platform": "ios", "version": "6.0.0"}).status_code == 200
    first = Device.objects.get(app=external_app, device_id="dev-1")
    assert (first.username, first.platform, first.app_version, first.last_result, first.status) == (
        "1000",
        "ios",
        "6.0.0",
        "ok",
        DeviceStatus.ACTIVE,
    )
    assert len(first.accounts_hash) == 64

    Device.objects.filter(pk=first.pk).update(last_seen=timezone.now() - timedelta(hours=1))
    assert provision().status_code == 200  # no platform, no version this time

    again = Device.objects.get(pk=first.pk)
    assert (again.platform, again.app_version) == ("ios", "6.0.0")
    assert again.first_seen == first.first_seen
    assert again.last_seen > first.last_seen - timedelta(minutes=59)
    assert Device.objects.filter(app=external_app).count() == 1


def test_a_failed_call_records_its_code_and_keeps_the_last_accounts_digest(external_app, provider):
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT]})
    provision()
    digest = Device.objects.get().accounts_hash
    provider.answer(500, b"down")

    assert provision().status_code == 502

    device = Device.objects.get()
    assert (device.last_result, device.accounts_hash) == ("provider_error", digest)
    rows = list(
        ProvisioningLogEntry.objects.order_by("id").values_list("outcome", "error_code", "upstream_status")
    )
    assert rows == [("ok", "", 200), ("failed", "provider_error", 500)]


def test_a_call_never_undoes_a_deactivation(external_app):
    Device.objects.create(
        app=external_app, device_id="dev-9", status=DeviceStatus.DEACTIVATED, accounts_hash="a" * 64
    )
    # As if the device had been deactivated while its call waited for the provider.
    record_call(
        external_app.pk,
        DeviceVisit(
            device_id="dev-9",
            username="1000",
            platform="android",
            app_version="1",
            end_user_id=None,
            result="ok",
            accounts_hash="b" * 64,
        ),
        LogLine(device_id="dev-9", username="1000", flow="provision", outcome="ok", accounts=1),
    )

    device = Device.objects.get(device_id="dev-9")
    assert (device.status, device.accounts_hash, device.platform) == (
        DeviceStatus.DEACTIVATED,
        "b" * 64,
        "android",
    )
    assert device_state(external_app.pk, "dev-9").deactivated


def test_an_unknown_device_has_an_active_empty_state(external_app):
    state = device_state(external_app.pk, "never-seen")
    assert (state.deactivated, state.accounts_hash) == (False, "")


def test_the_next_call_follows_a_change_of_the_providers_settings(external_app, provider):
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT]})
    other = start_stub()
    try:
        other.answer_json(
            {"update": True, "sipaccounts": [{**ACCOUNT, "sippassword": "from-the-new-service"}]}
        )
        assert provision().json()["sipaccounts"][0]["sippassword"] == "sip-pass-1000"

        external_app.provisioning_url = other.url()
        external_app.provisioning_auth_header = "Bearer rotated-token"
        external_app.save()

        assert provision().json()["sipaccounts"][0]["sippassword"] == "from-the-new-service"
        assert len(provider.requests) == 1
        assert {k.lower(): v for k, v in other.requests[0].headers.items()}[
            "authorization"
        ] == "Bearer rotated-token"

        external_app.enabled = False
        external_app.save()
        assert provision().status_code == 404
        assert len(other.requests) == 1
    finally:
        stop_stub(other)


def test_each_caller_gets_its_own_copy_of_the_app(external_app):
    def enabled_app(provider_id: str):
        found = enabled_app_and_device(provider_id, "dev-1")
        return found[0] if found else None

    first, second = enabled_app("extinc"), enabled_app("EXTINC")
    assert first is not None and second is not None and first is not second
    first.provisioning_url = "https://changed.example/"
    assert enabled_app("ExtInc").provisioning_url == external_app.provisioning_url
    assert enabled_app("ExtInc").provisioning_auth_header == "Bearer upstream-s3cret"  # decrypted
    assert enabled_app("NoSuchInc") is None


def test_one_record_writes_the_ledger_row_and_the_log_row_together(external_app):
    visit = DeviceVisit(
        device_id="dev-5",
        username="1000",
        platform="ios",
        app_version="6",
        end_user_id=None,
        result="ok",
        accounts_hash="d" * 64,
    )
    record_call(
        external_app.pk,
        visit,
        LogLine(
            device_id="dev-5",
            username="1000",
            flow="provision",
            outcome="ok",
            upstream_latency_ms=200,
            accounts=1,
        ),
    )

    device = Device.objects.get(device_id="dev-5")
    entry = ProvisioningLogEntry.objects.get()
    assert (device.last_result, device.accounts_hash, device.status) == ("ok", "d" * 64, "active")
    assert (entry.device_id, entry.outcome, entry.upstream_latency_ms, entry.accounts) == (
        "dev-5",
        "ok",
        200,
        1,
    )
    assert entry.created == device.last_seen


def test_a_call_that_hands_out_nothing_writes_only_the_log_row_for_an_unknown_device(external_app):
    visit = DeviceVisit(
        device_id="dev-5",
        username="1000",
        platform="ios",
        app_version="6",
        end_user_id=None,
        result="provider_timeout",
    )
    record_call(
        external_app.pk,
        visit,
        LogLine(
            device_id="dev-5",
            username="1000",
            flow="provision",
            outcome="failed",
            error_code="provider_timeout",
            upstream_latency_ms=2000,
        ),
    )

    entry = ProvisioningLogEntry.objects.get()
    assert list(Device.objects.all()) == []
    assert (entry.device_id, entry.outcome, entry.error_code, entry.upstream_latency_ms) == (
        "dev-5",
        "failed",
        "provider_timeout",
        2000,
    )


def test_a_call_that_hands_out_nothing_updates_a_known_device(external_app):
    Device.objects.create(
        app=external_app, device_id="dev-5", username="1000", platform="ios", accounts_hash="e" * 64
    )
    visit = DeviceVisit(
        device_id="dev-5", username="", platform="", app_version="7", end_user_id=None, result="rejected"
    )
    record_call(
        external_app.pk, visit, LogLine(device_id="dev-5", username="", flow="provision", outcome="rejected")
    )

    device = Device.objects.get(device_id="dev-5")
    entry = ProvisioningLogEntry.objects.get()
    assert (
        device.username,
        device.platform,
        device.app_version,
        device.last_result,
        device.accounts_hash,
    ) == ("1000", "ios", "7", "rejected", "e" * 64)
    assert entry.created == device.last_seen


def test_made_up_logins_leave_log_rows_and_no_devices(external_app, provider):
    provider.answer_json({"update": True, "sipaccounts": [], "errmsg": "Wrong PIN"})
    for n in range(3):
        response = provision(device_id=f"phantom-{n}", username=f"guess{n}")
        assert response.json()["errmsg"] == "Wrong PIN"

    assert list(Device.objects.all()) == []
    assert [entry.outcome for entry in ProvisioningLogEntry.objects.order_by("id")] == ["rejected"] * 3


def test_a_device_becomes_active_when_it_first_receives_accounts(external_app, provider):
    provider.answer_json({"update": True, "sipaccounts": [], "errmsg": "Wrong PIN"})
    provision(device_id="dev-9")
    provider.answer_json({"update": True, "sipaccounts": [{"sipusername": "1000", "sippassword": "s"}]})
    provision(device_id="dev-9")

    device = Device.objects.get()
    assert (device.device_id, device.status, device.last_result) == ("dev-9", "active", "ok")


def test_the_app_comes_with_its_devices_ledger_state(external_app):
    Device.objects.create(
        app=external_app, device_id="dev-2", status=DeviceStatus.DEACTIVATED, accounts_hash="c" * 64
    )

    app, known = enabled_app_and_device("EXTINC", "dev-2")
    _, unknown = enabled_app_and_device("extinc", "dev-3")

    assert app.pk == external_app.pk
    assert (known.deactivated, known.accounts_hash) == (True, "c" * 64)
    assert (unknown.deactivated, unknown.accounts_hash) == (False, "")
    assert enabled_app_and_device("OtherInc", "dev-2") is None
