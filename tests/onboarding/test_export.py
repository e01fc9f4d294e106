"""CSV export: the import's columns, passwords only on request (and audited)."""

from __future__ import annotations

import pytest

from sessioncloud.accounts.models import AuditEntry
from sessioncloud.onboarding import jobs
from sessioncloud.onboarding.csvfile import COLUMNS
from sessioncloud.providers.models import EndUser
from tests.factories import make_app, make_end_user

pytestmark = pytest.mark.django_db
URL = "/api/v1/manage/apps/AcmeInc/endusers.csv"
HEADER = ",".join(COLUMNS)


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def users(app):
    make_end_user(
        app,
        "bob",
        display_name="=cmd|' /C calc'!A0",
        email="bob@acme.example",
        sip_username="+4420",
        sip_password="-secret",
        transport="TLS",
        srtp="Enabled",
    )
    make_end_user(
        app,
        "alice",
        display_name="Smith, Alice",
        sip_username="",
        sip_password="",
        provisioning_username="alice",
        provisioning_password="pin",
    )


def test_the_export_lists_users_by_external_id_without_passwords(api, users):
    response = api.get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="AcmeInc-endusers-')
    assert response["Cache-Control"] == "no-store"
    assert body(response) == (
        "\ufeff"
        + HEADER
        + "\r\n"
        + 'alice,"Smith, Alice",,,,,,,,,,,alice,\r\n'
        + "bob,'=cmd|' /C calc'!A0,bob@acme.example,'+4420,,,,TLS,Enabled,,,,,\r\n"
    )
    assert not AuditEntry.objects.filter(action="enduser.export").exists()


def test_passwords_are_exported_only_on_request_and_that_is_audited(api, users):
    text = body(api.get(URL + "?passwords=true"))
    assert text.splitlines()[1:] == [
        'alice,"Smith, Alice",,,,,,,,,,,alice,pin',
        "bob,'=cmd|' /C calc'!A0,bob@acme.example,'+4420,'-secret,,,TLS,Enabled,,,,,",
    ]
    entry = AuditEntry.objects.get(action="enduser.export")
    assert entry.actor.startswith("api key tests (sck_")
    assert (entry.object_type, entry.object_repr, entry.after) == (
        "App",
        "AcmeInc",
        {"passwords": True, "endUsers": 2},
    )


def test_an_export_with_passwords_imports_back_unchanged(api, app, users):
    exported = body(api.get(URL + "?passwords=true")).encode()
    EndUser.objects.all().delete()
    jobs.start_import(app, exported, dry_run=False, actor="tests")
    bob = EndUser.objects.get(external_id="bob")
    assert (bob.display_name, bob.sip_username, bob.sip_password) == (
        "=cmd|' /C calc'!A0",
        "+4420",
        "-secret",
    )
    again = jobs.start_import(app, exported, dry_run=True, actor="tests")
    assert again.report["unchanged"] == 2


def test_an_export_without_passwords_imports_back_without_changing_anything(api, app, users):
    exported = body(api.get(URL)).encode()
    job = jobs.start_import(app, exported, dry_run=False, actor="tests")
    assert (job.report["unchanged"], job.report["refused"]) == (2, 0)
    assert EndUser.objects.get(external_id="bob").sip_password == "-secret"


def test_another_organizations_export_is_404(other_api, users):
    response = other_api.get(URL + "?passwords=true")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_export_of_an_app_without_users_is_the_header_alone(api, org):
    make_app(org, "EmptyApp")
    assert body(api.get("/api/v1/manage/apps/EmptyApp/endusers.csv")) == "\ufeff" + HEADER + "\r\n"
