"""The devices page (deactivation) and the provisioning log page (filters)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from sessioncloud.accounts.models import AuditEntry
from sessioncloud.portal.access import PAGE_SIZE
from sessioncloud.providers.models import App, Device, ProvisioningLogEntry
from tests.factories import make_end_user

pytestmark = pytest.mark.django_db

DEVICES = "/portal/apps/AcmeInc/devices/"
LOG = "/portal/apps/AcmeInc/log/"


@pytest.fixture
def phone(app: App) -> Device:
    user = make_end_user(app, "cust-1001")
    return Device.objects.create(
        app=app,
        device_id="phone-1",
        username="1000",
        end_user=user,
        platform="ios",
        app_version="6.0.1",
        last_result="ok",
    )


def test_the_devices_page_lists_each_device(owner_client, phone):
    response = owner_client.get(DEVICES)
    assert list(response.context["devices"]) == [phone]
    content = response.content.decode()
    for shown in (
        '<code class="wrap">phone-1</code>',
        ">cust-1001</a>",
        '<td data-label="Platform">ios</td>',
        '<td data-label="Version">6.0.1</td>',
        "<code>ok</code>",
        '<span class="badge ok">active</span>',
    ):
        assert shown in content


def deactivate_phone(client: Client) -> Any:
    return client.post(DEVICES + "deactivate/", {"device_id": "phone-1"})


def test_deactivating_a_device_returns_to_the_devices(owner_client: Client, phone: Device) -> None:
    assert deactivate_phone(owner_client)["Location"] == DEVICES


def test_deactivating_a_device_deactivates_it(owner_client: Client, phone: Device) -> None:
    deactivate_phone(owner_client)
    phone.refresh_from_db()
    assert phone.status == "deactivated"


def test_deactivating_a_device_audits_it(owner_client: Client, phone: Device) -> None:
    deactivate_phone(owner_client)
    entry = AuditEntry.objects.get()
    assert {
        "actor": entry.actor,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_repr": entry.object_repr,
        "before": entry.before,
        "after": entry.after,
    } == {
        "actor": "owner@acme.example",
        "action": "device.deactivate",
        "object_type": "Device",
        "object_repr": "phone-1",
        "before": {"status": "active"},
        "after": {"status": "deactivated"},
    }


def test_deactivating_a_deactivated_device_again_audits_nothing(owner_client: Client, phone: Device) -> None:
    deactivate_phone(owner_client)
    deactivate_phone(owner_client)
    assert AuditEntry.objects.count() == 1


def test_a_deactivated_device_is_told_to_deprovision_on_its_next_call(owner_client, app, phone):
    app.provisioning_mode, app.provisioning_url = "external", "https://prov.acme.example/p"
    app.save()
    owner_client.post(DEVICES + "deactivate/", {"device_id": "phone-1"})
    answer = Client().post(
        "/api/v1/provision",
        {
            "providerId": "AcmeInc",
            "username": "1000",
            "password": "1234",
            "deviceId": "phone-1",
            "reprovision": True,
        },
        content_type="application/json",
    )
    assert answer.status_code == 200
    body = answer.json()
    assert (body["update"], body["sipaccounts"], body["errmsg"]) == (
        True,
        [],
        "This device was deactivated by your provider.",
    )
    assert ProvisioningLogEntry.objects.get().outcome == "deactivated"


def test_an_unknown_device_is_not_found(owner_client, phone):
    assert owner_client.post(DEVICES + "deactivate/", {"device_id": "phone-2"}).status_code == 404
    assert owner_client.post(DEVICES + "deactivate/", {}).status_code == 404


def test_the_devices_page_filters_by_status(owner_client, app, phone):
    Device.objects.create(app=app, device_id="phone-2", status="deactivated")
    active = owner_client.get(DEVICES, {"status": "active"}).context["devices"]
    deactivated = owner_client.get(DEVICES, {"status": "deactivated"}).context["devices"]
    assert ([d.device_id for d in active], [d.device_id for d in deactivated]) == (["phone-1"], ["phone-2"])


def log_row(app: App, when: datetime, **values: object) -> ProvisioningLogEntry:
    entry = ProvisioningLogEntry.objects.create(app=app, flow=values.pop("flow", "provision"), **values)
    ProvisioningLogEntry.objects.filter(pk=entry.pk).update(created=when)
    return entry


@pytest.fixture
def log(app: App) -> dict[str, ProvisioningLogEntry]:
    day = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    return {
        "ok": log_row(app, day, outcome="ok", username="1000", device_id="phone-1", accounts=1),
        "failed": log_row(
            app,
            day + timedelta(days=1),
            outcome="failed",
            username="1001",
            device_id="phone-2",
            error_code="provider_bad_response",
            upstream_status=200,
            upstream_latency_ms=41,
            detail='invalid answer: sipaccounts[0].sipusername: <img src=x onerror="alert(1)">',
        ),
        "rejected": log_row(
            app,
            day + timedelta(days=2),
            outcome="rejected",
            username="2000",
            device_id="phone-1",
            detail="Wrong PIN",
        ),
    }


def shown(response: Any) -> list[str]:
    return [entry.outcome for entry in response.context["entries"]]


def test_the_log_is_newest_first(owner_client, log):
    assert shown(owner_client.get(LOG)) == ["rejected", "failed", "ok"]


@pytest.mark.parametrize(
    ("filters", "outcomes"),
    [
        ({"outcome": "failed"}, ["failed"]),
        ({"username": "100"}, ["failed", "ok"]),
        ({"device": "phone-1"}, ["rejected", "ok"]),
        ({"since": "2026-03-11"}, ["rejected", "failed"]),
        ({"until": "2026-03-11"}, ["failed", "ok"]),
        ({"since": "2026-03-11", "until": "2026-03-11"}, ["failed"]),
        ({"outcome": "ok", "device": "phone-2"}, []),
    ],
)
def test_the_log_filters(owner_client, log, filters, outcomes):
    assert shown(owner_client.get(LOG, filters)) == outcomes


def test_a_reversed_date_range_is_explained_and_the_other_filters_still_apply(owner_client, log):
    response = owner_client.get(LOG, {"outcome": "ok", "since": "2026-03-12", "until": "2026-03-10"})
    assert response.context["form"].errors == {"until": ["The last day comes before the first."]}
    assert shown(response) == ["ok"]


def test_the_detail_column_is_escaped_technical_text(owner_client, log):
    content = owner_client.get(LOG).content.decode()
    assert (
        '<code class="detail">invalid answer: sipaccounts[0].sipusername: '
        "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;</code>"
    ) in content
    assert "<img src=x" not in content
    assert 'HTTP 200<br><span class="muted small">41 ms</span>' in content


def test_the_log_is_paginated_and_keeps_its_filters(owner_client, app):
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for number in range(PAGE_SIZE + 1):
        log_row(app, start + timedelta(minutes=number), outcome="ok", username=f"u{number}")
    first = owner_client.get(LOG, {"outcome": "ok"})
    assert len(first.context["entries"]) == PAGE_SIZE
    assert '<a href="?outcome=ok&amp;page=2" rel="next">Older →</a>' in first.content.decode()
    second = owner_client.get(LOG, {"outcome": "ok", "page": "2"})
    assert [entry.username for entry in second.context["entries"]] == ["u0"]


def test_the_log_shows_only_this_apps_rows(owner_client, app, rival_app):
    log_row(rival_app, datetime(2026, 3, 1, tzinfo=UTC), outcome="ok", username="rival-user")
    assert list(owner_client.get(LOG).context["entries"]) == []
