"""The front refuses a NUL in a phone's body as Django's edge check does: 422, nothing stored."""

from __future__ import annotations

import json

import pytest
from django.core.handlers.wsgi import WSGIHandler

from sessioncloud.providers.models import Device, SetupToken
from sessioncloud.providers.tokens import issue_token
from sessioncloud.serving.front import Front
from tests.factories import make_end_user
from tests.serving.frontclient import Spy, django_call, front_call

pytestmark = pytest.mark.django_db
NUL_FIELD = "Must not contain a NUL character."


@pytest.fixture
def front() -> Front:
    return Front(Spy(), django_threads=1, phone_threads=1)


def test_a_nul_in_a_provisioning_body_is_refused_exactly_as_django_refuses_it(external_app, front):
    sent = json.dumps(
        {"providerId": "ExtInc", "username": "1000", "password": "1234", "deviceId": "dev\u00001"}
    ).encode()
    from_front = front_call(front, "POST", "/api/v1/provision", sent)
    from_django = django_call(WSGIHandler(), "POST", "/api/v1/provision", sent)
    assert (
        (from_front.status, from_front.json())
        == (from_django.status, from_django.json())
        == (
            422,
            {
                "error": {
                    "code": "invalid_request",
                    "message": "Some fields are not valid: deviceId.",
                    "fields": {"deviceId": NUL_FIELD},
                }
            },
        )
    )
    assert not Device.objects.exists()


def test_a_nul_device_id_in_a_redemption_leaves_the_token_unused(app, front):
    issued = issue_token(make_end_user(app, "alice"))
    answer = front_call(
        front,
        "POST",
        "/api/v1/tokens/redeem",
        json.dumps({"token": issued.plain, "deviceId": "\u0000"}).encode(),
    )
    assert (answer.status, answer.json()["error"]["fields"]) == (422, {"deviceId": NUL_FIELD})
    assert SetupToken.objects.get().uses == 0
