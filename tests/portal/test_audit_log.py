from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest

from sessioncloud.accounts.models import ApiKey, AuditEntry, Organization, record_audit
from sessioncloud.portal.access import AUDIT_PAGE_SIZE
from sessioncloud.providers.models import App
from tests.factories import make_app

pytestmark = pytest.mark.django_db


def test_the_audit_log_shows_the_changed_fields_of_each_entry(owner_client, org, app):
    record_audit(
        org,
        "owner@acme.example",
        "app.general",
        app,
        {"name": "Acme", "kind": "generic", "provisioning.authHeader": ""},
        {"name": "Acme Mobile", "kind": "generic", "provisioning.authHeader": "***"},
    )
    response = owner_client.get("/portal/audit/")
    [item] = response.context["entries"]
    assert item["changes"] == [("name", "Acme", "Acme Mobile"), ("provisioning.authHeader", "—", "***")]
    content = response.content.decode()
    assert '<th scope="row">name</th><td>Acme</td><td>→ Acme Mobile</td>' in content


def test_the_audit_log_is_paginated_newest_first(owner_client, org, app):
    for number in range(AUDIT_PAGE_SIZE + 1):
        record_audit(org, "owner@acme.example", f"test.{number}", app)
    first = owner_client.get("/portal/audit/")
    assert [i["entry"].action for i in first.context["entries"]][:2] == ["test.50", "test.49"]
    assert len(first.context["entries"]) == AUDIT_PAGE_SIZE
    second = owner_client.get("/portal/audit/?page=2")
    assert [i["entry"].action for i in second.context["entries"]] == ["test.0"]
    assert "Page 2 of 2" in second.content.decode()


def test_the_audit_log_shows_only_the_organizations_entries(owner_client, org, other_org, rival_app):
    record_audit(other_org, "owner@rival.example", "app.general", rival_app)
    assert owner_client.get("/portal/audit/").context["entries"] == []


def test_viewers_read_the_audit_log_too(viewer_client, org, app):
    record_audit(org, "owner@acme.example", "app.general", app)
    assert len(viewer_client.get("/portal/audit/").context["entries"]) == 1


def sentences(response: Any) -> list[str]:
    return [item["sentence"] for item in response.context["entries"]]


def test_an_entry_reads_as_a_sentence_instead_of_an_action_code(owner_client, org):
    key = ApiKey.issue(org, "Billing")[0]
    record_audit(org, "owner@acme.example", "apikey.create", key, None, {"name": "Billing", "hint": key.hint})
    response = owner_client.get("/portal/audit/")
    assert sentences(response) == [f"Created the API key Billing ({key.hint}…)."]
    assert '<span class="sentence">Created the API key Billing' in response.content.decode()
    assert "<code>apikey.create</code>" not in response.content.decode()


@pytest.mark.parametrize(
    ("action", "after", "expected"),
    [
        ("app.sip", {}, "Changed the SIP profile of the App AcmeInc."),
        ("app.delete", None, "Deleted the App AcmeInc."),
        ("token.create", {"externalId": "cust-7"}, "Created a setup token for the end user cust-7."),
        (
            "invitation.create",
            {"email": "new@acme.example", "role": "viewer"},
            "Invited new@acme.example as viewer.",
        ),
        ("made.up", None, "made.up App AcmeInc."),
    ],
)
def test_each_action_has_its_sentence(owner_client, org, app, action, after, expected):
    record_audit(org, "owner@acme.example", action, app, None, after)
    assert sentences(owner_client.get("/portal/audit/")) == [expected]


def test_times_are_shown_in_the_browsers_zone_to_the_second(owner_client, org, app):
    entry = record_audit(org, "owner@acme.example", "app.general", app)
    AuditEntry.objects.filter(pk=entry.pk).update(
        created=datetime(2026, 7, 1, 10, 30, 15, 123456, tzinfo=UTC)
    )
    owner_client.cookies["tz"] = "Europe/Berlin"
    content = owner_client.get("/portal/audit/").content.decode()
    assert "<th>When (Europe/Berlin)</th>" in content
    assert '<td class="nowrap" data-label="When">1 Jul 2026 12:30:15</td>' in content


def test_an_unknown_zone_leaves_times_in_utc(owner_client, org, app):
    record_audit(org, "owner@acme.example", "app.general", app)
    owner_client.cookies["tz"] = "Mars/Olympus"
    assert "<th>When (UTC)</th>" in owner_client.get("/portal/audit/").content.decode()


def test_a_timestamp_in_the_changes_is_local_time_without_microseconds(owner_client, org, app):
    record_audit(
        org,
        "owner@acme.example",
        "token.create",
        app,
        None,
        {"externalId": "cust-7", "expires": "2026-07-04T10:30:15.123456+00:00"},
    )
    owner_client.cookies["tz"] = "America/New_York"
    [item] = owner_client.get("/portal/audit/").context["entries"]
    assert ("expires", "—", "4 Jul 2026 06:30") in item["changes"]


@pytest.fixture
def history(org: Organization, app: App, rival_app: App) -> None:
    """Three entries of two people about two Apps and the team, on three days."""
    other = make_app(org, "AcmeTwo")
    rows = [
        ("owner@acme.example", "app.sip", app, datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("admin@acme.example", "app.branding", other, datetime(2026, 3, 2, 12, tzinfo=UTC)),
        ("owner@acme.example", "member.remove", org, datetime(2026, 3, 3, 12, tzinfo=UTC)),
    ]
    for actor, action, obj, when in rows:
        entry = record_audit(org, actor, action, obj)
        AuditEntry.objects.filter(pk=entry.pk).update(created=when)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"person": "admin@acme.example"}, ["app.branding"]),
        ({"action": "app.sip"}, ["app.sip"]),
        ({"app": "AcmeTwo"}, ["app.branding"]),
        ({"since": "2026-03-02"}, ["member.remove", "app.branding"]),
        ({"since": "2026-03-01", "until": "2026-03-02"}, ["app.branding", "app.sip"]),
        ({"person": "owner@acme.example", "until": "2026-03-01"}, ["app.sip"]),
    ],
)
def test_the_filters_narrow_the_entries(owner_client, history, query, expected):
    response = owner_client.get("/portal/audit/", query)
    assert [item["entry"].action for item in response.context["entries"]] == expected


def test_the_filters_offer_the_organizations_people_actions_and_apps(owner_client, history):
    form = owner_client.get("/portal/audit/").context["form"]
    assert form.fields["person"].choices == [
        ("", "Anyone"),
        ("admin@acme.example", "admin@acme.example"),
        ("owner@acme.example", "owner@acme.example"),
    ]
    assert form.fields["action"].choices == [
        ("", "Any change"),
        ("app.branding", "App branding changed"),
        ("app.sip", "App SIP profile changed"),
        ("member.remove", "Member removed"),
    ]
    assert form.fields["app"].choices == [
        ("", "Any App or none"),
        ("AcmeInc", "AcmeInc"),
        ("AcmeTwo", "AcmeTwo"),
    ]


def test_a_deleted_apps_entries_stay_findable_by_its_provider_id(owner_client, app):
    owner_client.post("/portal/apps/AcmeInc/delete/", {"confirm_text": "AcmeInc"})
    response = owner_client.get("/portal/audit/", {"app": "AcmeInc"})
    assert sentences(response) == ["Deleted the App AcmeInc."]


def test_an_end_users_entry_names_its_app(owner_client, app):
    owner_client.post(
        "/portal/apps/AcmeInc/add-end-user/",
        {"external_id": "cust-1", "sip_username": "1001", "sip_password": "s3cret"},
    )
    assert AuditEntry.objects.get().app_provider_id == "AcmeInc"


def test_the_csv_export_has_one_row_per_filtered_entry(owner_client, history):
    owner_client.cookies["tz"] = "Europe/Berlin"
    response = owner_client.get("/portal/audit/export/", {"person": "owner@acme.example"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="acme-audit-')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows == [
        ["time", "who", "what", "action", "app", "object_type", "object", "changes"],
        [
            "2026-03-03T13:00:00+01:00",
            "owner@acme.example",
            "Removed Acme Telecom from the team.",
            "member.remove",
            "",
            "Organization",
            "Acme Telecom",
            "",
        ],
        [
            "2026-03-01T13:00:00+01:00",
            "owner@acme.example",
            "Changed the SIP profile of the App AcmeInc.",
            "app.sip",
            "AcmeInc",
            "App",
            "AcmeInc",
            "",
        ],
    ]


def test_the_csv_export_defuses_formulas(owner_client, org, app):
    record_audit(org, "=HYPERLINK(1)", "app.general", app, {"name": "a"}, {"name": "=cmd"})
    text = b"".join(owner_client.get("/portal/audit/export/").streaming_content).decode("utf-8-sig")
    row = list(csv.reader(io.StringIO(text)))[1]
    assert (row[1], row[7]) == ("'=HYPERLINK(1)", '{"name": ["a", "=cmd"]}')


def test_the_csv_export_holds_only_the_organizations_entries(owner_client, org, other_org, rival_app):
    record_audit(other_org, "owner@rival.example", "app.general", rival_app)
    text = b"".join(owner_client.get("/portal/audit/export/").streaming_content).decode("utf-8-sig")
    assert text.splitlines()[1:] == []


def test_pages_keep_the_filters(owner_client, org, app):
    for _ in range(AUDIT_PAGE_SIZE + 1):
        record_audit(org, "owner@acme.example", "app.sip", app)
    content = owner_client.get("/portal/audit/", {"action": "app.sip"}).content.decode()
    assert 'href="?action=app.sip&amp;page=2"' in content
