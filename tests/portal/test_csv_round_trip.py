"""One rule for provisioning usernames in the portal, the management API and CSV files, so that
every export imports back unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from sessioncloud.onboarding import jobs
from sessioncloud.onboarding.models import Job
from sessioncloud.onboarding.runner import huey
from sessioncloud.providers.models import EndUser

pytestmark = pytest.mark.django_db

BULK = "/portal/apps/AcmeInc/bulk/"
USER_URL = "/api/v1/manage/apps/AcmeInc/endusers/"


@pytest.fixture(autouse=True)
def jobs_run_at_once() -> Iterator[None]:
    huey.immediate = True
    yield
    huey.immediate = False


def portal_user(client: Client, external_id: str, username: str, password: str) -> Any:
    return client.post(
        "/portal/apps/AcmeInc/add-end-user/",
        {"external_id": external_id, "provisioning_username": username, "provisioning_password": password},
    )


def portal_export(client: Client) -> bytes:
    return b"".join(client.post(f"{BULK}export/", {"passwords": "on"}).streaming_content)


def portal_dry_run(client: Client, data: bytes) -> dict:
    client.post(f"{BULK}import/", {"file": SimpleUploadedFile("users.csv", data, "text/csv")})
    return Job.objects.latest("created").report


def test_a_username_with_a_colon_is_accepted_in_the_portal(owner_client, app):
    assert portal_user(owner_client, "cust-1", "a:b", "12:34").status_code == 302
    assert EndUser.objects.get().provisioning_username == "a:b"


def test_a_username_with_a_colon_is_accepted_by_the_api(api, app):
    response = api.put(USER_URL + "cust-1", {"provisioning": {"username": "a:b", "password": "12:34"}})
    assert (response.status_code, response.json()["provisioning"]["username"]) == (201, "a:b")


def test_a_username_with_a_colon_is_accepted_in_a_csv_file(app):
    data = b"external_id,provisioning_username,provisioning_password\r\ncust-1,a:b,12:34\r\n"
    job = jobs.start_import(app, data, dry_run=False, actor="tests")
    assert (job.report["created"], EndUser.objects.get().provisioning_username) == (1, "a:b")


def test_a_portal_export_imports_back_unchanged(owner_client, app):
    portal_user(owner_client, "cust-1", "a:b", "12:34")
    portal_user(owner_client, "cust-2", "1002", "pin:pin")
    report = portal_dry_run(owner_client, portal_export(owner_client))
    assert (report["rows"], report["unchanged"], report["refused"]) == (2, 2, 0)


def test_an_export_imported_into_an_empty_app_recreates_every_user_exactly(owner_client, app):
    portal_user(owner_client, "cust-1", "a:b:c", " 12:34 ")
    exported = portal_export(owner_client)
    before = list(
        EndUser.objects.values_list("external_id", "provisioning_username", "provisioning_password")
    )
    EndUser.objects.all().delete()
    jobs.start_import(app, exported, dry_run=False, actor="tests")
    after = list(EndUser.objects.values_list("external_id", "provisioning_username", "provisioning_password"))
    assert after == before


def test_an_api_export_imports_back_unchanged(api, app):
    api.put(USER_URL + "cust-1", {"provisioning": {"username": "x:y", "password": " pw "}})
    exported = b"".join(api.get("/api/v1/manage/apps/AcmeInc/endusers.csv?passwords=true").streaming_content)
    response = api.client.post(
        "/api/v1/manage/apps/AcmeInc/endusers.csv",
        data=exported,
        content_type="text/csv",
        headers=api.headers,
    )
    report = response.json()["report"]
    assert (report["unchanged"], report["refused"]) == (1, 0)


def test_the_api_refuses_a_username_a_csv_cell_would_not_keep(api, app):
    response = api.put(USER_URL + "cust-1", {"provisioning": {"username": " 1000", "password": "pin"}})
    assert (response.status_code, response.json()["error"]["fields"]) == (
        422,
        {"provisioning.username": "Must not begin or end with a space."},
    )


def test_the_portal_trims_a_username_as_the_csv_import_does(owner_client, app):
    portal_user(owner_client, "cust-1", " 1000 ", "pin")
    assert EndUser.objects.get().provisioning_username == "1000"
