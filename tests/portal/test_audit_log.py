from __future__ import annotations

import pytest

from sessioncloud.accounts.models import record_audit
from sessioncloud.portal.access import AUDIT_PAGE_SIZE

pytestmark = pytest.mark.django_db


def test_the_audit_log_shows_the_changed_fields_of_each_entry(owner_client, org, app):
    record_audit(org, "owner@acme.example", "app.general", app,
                 {"name": "Acme", "kind": "generic", "provisioning.authHeader": ""},
                 {"name": "Acme Mobile", "kind": "generic", "provisioning.authHeader": "***"})
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
