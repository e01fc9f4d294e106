"""DELETE /api/v1/manage/apps/{providerId}: the App and all it holds go; its ProviderId stays reserved."""

from __future__ import annotations

import pytest
from django.test import Client

from sessioncloud.accounts.models import ApiKey, AuditEntry
from sessioncloud.onboarding.models import Job
from sessioncloud.providers.models import (
    App,
    Device,
    EndUser,
    ProvisioningLogEntry,
    RetiredProviderId,
)
from sessioncloud.providers.tokens import issue_token
from tests.factories import make_end_user

pytestmark = pytest.mark.django_db

URL = "/api/v1/manage/apps/AcmeInc"
NEW_APP = {"providerId": "AcmeInc", "name": "Acme again", "sip": {"domain": "sip.acme.example"}}


def test_it_deletes_the_app_and_says_what_went_with_it(api, app):
    issue_token(make_end_user(app, "cust-1"))
    Device.objects.create(app=app, device_id="phone-1")
    ProvisioningLogEntry.objects.create(app=app, flow="provision", outcome="ok")
    response = api.delete(URL)
    assert (response.status_code, response.json()) == (
        200,
        {
            "providerId": "AcmeInc",
            "providerIdReserved": True,
            "deleted": {
                "endUsers": 1,
                "setupTokens": 1,
                "devices": 1,
                "provisioningLogEntries": 1,
                "jobs": 0,
            },
        },
    )
    assert (App.objects.count(), EndUser.objects.count(), Device.objects.count()) == (0, 0, 0)


def test_the_app_is_gone_for_the_api_afterwards(api, app):
    api.delete(URL)
    assert api.get(URL).status_code == 404
    assert api.delete(URL).status_code == 404


def test_lookups_ignore_case(api, app):
    assert api.delete("/api/v1/manage/apps/acmeinc").status_code == 200
    assert RetiredProviderId.objects.get().provider_id == "AcmeInc"


def test_the_deletion_is_audited_under_the_keys_name(api, app):
    api.delete(URL)
    entry = AuditEntry.objects.get()
    key = ApiKey.objects.get()
    assert (entry.actor, entry.action, entry.object_repr, entry.after) == (
        f"api key tests ({key.hint}…)",
        "app.delete",
        "AcmeInc",
        None,
    )


def test_another_organizations_app_is_not_found_and_kept(other_api, app):
    response = other_api.delete(URL)
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    assert App.objects.count() == 1


def test_an_app_with_a_running_job_is_busy(api, app):
    Job.objects.create(organization=app.organization, app=app, kind="email", status="queued")
    response = api.delete(URL)
    assert (response.status_code, response.json()) == (
        409,
        {
            "error": {
                "code": "app_busy",
                "message": "A bulk job of this App is still running: delete the App once it has finished.",
            }
        },
    )
    assert App.objects.count() == 1


def test_phones_get_404_for_the_config_at_once(api, app):
    assert Client().get(URL.replace("manage/apps", "providers") + "/config").status_code == 200
    api.delete(URL)
    response = Client().get("/api/v1/providers/AcmeInc/config")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "provider_not_found")


def test_another_organization_cannot_create_an_app_with_it(api, other_api, app):
    api.delete(URL)
    response = other_api.post("/api/v1/manage/apps", {**NEW_APP, "providerId": "ACMEINC"})
    assert (response.status_code, response.json()["error"]["fields"]) == (
        422,
        {"providerId": "This ProviderId is already taken."},
    )


def test_the_same_organization_may_create_it_again(api, app):
    api.delete(URL)
    assert api.post("/api/v1/manage/apps", NEW_APP).status_code == 201
