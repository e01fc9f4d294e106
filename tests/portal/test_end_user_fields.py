"""The portal form, the CSV file and the management API's JSON name an end user's fields alike."""

from __future__ import annotations

from typing import Any

import pytest

from sessioncloud.onboarding.csvfile import COLUMNS, PASSWORD_COLUMNS
from sessioncloud.portal.forms import EndUserForm
from sessioncloud.providers.endusers import enduser_json
from tests.factories import make_end_user

pytestmark = pytest.mark.django_db


def flattened(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer's values by JSON path ("sip.authusername"), without its times."""
    paths: dict[str, Any] = {}
    for key, value in answer.items():
        if isinstance(value, dict):
            paths.update({f"{key}.{inner}": item for inner, item in value.items()})
        elif key not in ("created", "updated"):
            paths[key] = value
    return paths


def test_the_form_has_a_field_for_each_csv_column_in_the_same_order():
    assert tuple(EndUserForm.base_fields) == COLUMNS


def test_each_form_field_is_answered_under_its_json_path(app):
    user = make_end_user(
        app,
        "cust-1",
        display_name="Ann",
        email="ann@acme.example",
        sip_username="1001",
        sip_password="pw",
        subdomain="pbx1",
        auth_username="ann",
        transport="TCP",
        srtp="Enabled",
        messaging="Disabled",
        video="Enabled",
        callrecording="Disabled",
        provisioning_username="ann.p",
        provisioning_password="pp",
    )
    answer = flattened(enduser_json(user))
    assert answer == {
        "externalId": "cust-1",
        "displayName": "Ann",
        "email": "ann@acme.example",
        "sip.sipusername": "1001",
        "sip.subdomain": "pbx1",
        "sip.authusername": "ann",
        "sip.transport": "TCP",
        "sip.srtp": "Enabled",
        "sip.messaging": "Disabled",
        "sip.video": "Enabled",
        "sip.callrecording": "Disabled",
        "sip.sippasswordSet": True,
        "provisioning.username": "ann.p",
        "provisioning.passwordSet": True,
    }
    # Passwords are write-only: answered only as set, under their path with "Set" added.
    for path, name in EndUserForm.FIELD_OF_PATH.items():
        if name in PASSWORD_COLUMNS:
            assert answer[path + "Set"] is True
        else:
            assert answer[path] == getattr(user, name)
