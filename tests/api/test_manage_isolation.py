"""Every management endpoint answers 404 for another organization's objects and changes nothing."""

from __future__ import annotations

import pytest

from sessioncloud.providers.models import (
    Device,
    DeviceStatus,
    EndUser,
    ProvisioningLogEntry,
    SetupToken,
)
from sessioncloud.providers.tokens import issue_token
from tests.factories import make_end_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def victim(app):
    user = make_end_user(app, "alice")
    token = issue_token(user).token
    Device.objects.create(app=app, device_id="dev-1", username="2001")
    ProvisioningLogEntry.objects.create(app=app, flow="provision", outcome="ok")
    return app, user, token


def test_every_management_endpoint_hides_another_organizations_objects(other_api, victim):
    app, user, token = victim
    base = "/api/v1/manage/apps/AcmeInc"
    calls = [
        ("get", f"{base}", None),
        ("patch", f"{base}", {"name": "x"}),
        ("get", f"{base}/endusers", None),
        ("get", f"{base}/endusers/alice", None),
        ("put", f"{base}/endusers/alice", {"sip": {"sipusername": "1", "sippassword": "2"}}),
        ("delete", f"{base}/endusers/alice", None),
        ("get", f"{base}/endusers/alice/code", None),
        ("post", f"{base}/endusers/alice/tokens", {}),
        ("get", f"{base}/tokens", None),
        ("delete", f"/api/v1/manage/tokens/{token.pk}", None),
        ("get", f"{base}/devices", None),
        ("post", f"{base}/devices/dev-1/deactivate", None),
        ("get", f"{base}/provisioning-log", None),
        ("post", f"{base}/provisioning/test", {"username": "1", "password": "2"}),
    ]
    for method, path, body in calls:
        response = (
            getattr(other_api, method)(path, body) if body is not None else getattr(other_api, method)(path)
        )
        assert response.status_code == 404, (method, path, response.content)
        assert response.json()["error"]["code"] == "not_found"
    assert EndUser.objects.get(pk=user.pk).sip_password == "alice-secret"
    assert SetupToken.objects.get(pk=token.pk).revoked is None
    assert Device.objects.get().status == DeviceStatus.ACTIVE
    assert SetupToken.objects.count() == 1
