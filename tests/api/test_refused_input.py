"""NUL characters and numbers beyond 64 bits are refused at the edge, naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from sessioncloud.providers.models import Device, SetupToken
from sessioncloud.providers.tokens import issue_token
from tests.factories import make_end_user

pytestmark = pytest.mark.django_db
NUL_FIELD = "Must not contain a NUL character."


def post_json(path: str, body: dict, **headers: str) -> Any:
    return Client().post(path, json.dumps(body), content_type="application/json", headers=headers)


def test_a_nul_in_a_phone_body_is_a_422_naming_each_field(app):
    response = post_json(
        "/api/v1/provision",
        {
            "providerId": "AcmeInc",
            "username": "1000",
            "password": "1234",
            "deviceId": "dev\x001",
            "app": {"platform": "i\x00os"},
        },
    )
    assert (response.status_code, response.json()) == (
        422,
        {
            "error": {
                "code": "invalid_request",
                "message": "Some fields are not valid: app.platform, deviceId.",
                "fields": {"deviceId": NUL_FIELD, "app.platform": NUL_FIELD},
            }
        },
    )
    assert not Device.objects.exists()


def test_a_redemption_with_a_nul_device_id_leaves_the_token_unused(app):
    issued = issue_token(make_end_user(app, "alice"))
    response = post_json("/api/v1/tokens/redeem", {"token": issued.plain, "deviceId": "\x00"})
    assert (response.status_code, response.json()["error"]["fields"]) == (422, {"deviceId": NUL_FIELD})
    assert SetupToken.objects.get().uses == 0


def test_a_number_beyond_64_bits_is_out_of_range(api, app):
    response = api.patch("/api/v1/manage/apps/AcmeInc", {"sip": {"registrationExpires": 10**23}})
    assert (response.status_code, response.json()["error"]["fields"]) == (
        422,
        {"sip.registrationExpires": "This number is out of range."},
    )


def test_a_digit_run_inside_a_string_is_no_number(api, app):
    response = api.patch("/api/v1/manage/apps/AcmeInc", {"name": "Acme 1234567890123456789012"})
    assert (response.status_code, response.json()["name"]) == (200, "Acme 1234567890123456789012")


def test_an_offset_beyond_its_bound_is_a_422(api, app):
    response = api.get("/api/v1/manage/apps/AcmeInc/endusers?offset=100000000000000000000000&limit=0")
    assert (response.status_code, response.json()["error"]["fields"]) == (
        422,
        {"limit": "Use a limit between 1 and 1000.", "offset": "Use an offset between 0 and 1000000000."},
    )


def test_a_nul_in_the_query_string_is_a_422(api, app):
    response = api.get("/api/v1/manage/apps/AcmeInc/provisioning-log?outcome=o%00k")
    assert (response.status_code, response.json()["error"]["fields"]) == (422, {"outcome": NUL_FIELD})


def test_a_nul_in_a_path_is_not_found(api, app):
    response = api.get("/api/v1/manage/apps/Acme%00Inc")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


def test_a_nul_in_a_portal_query_string_is_a_bad_request(db):
    assert Client().get("/accounts/login/?next=/portal/%00").status_code == 400


def test_a_nul_in_a_header_is_a_bad_request(app):
    response = Client().get("/api/v1/providers/AcmeInc/config", headers={"User-Agent": "phone\x00"})
    assert response.status_code == 400
