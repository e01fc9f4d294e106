from __future__ import annotations

import re

import pytest
from django.test import Client

from sessioncloud.accounts.models import ApiKey, AuditEntry, hash_api_key
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


def create_key(client: Client, name: str = "Billing system") -> str:
    response = client.post("/portal/api-keys/", {"name": name})
    assert response.status_code == 200
    return re.search(r'<code id="new-key">(sck_[A-Za-z0-9_-]+)</code>', response.content.decode()).group(1)


def test_a_new_key_is_shown_once_and_stored_hashed(owner_client, org):
    key = create_key(owner_client)
    stored = ApiKey.objects.get()
    assert (stored.organization, stored.name, stored.key_hash, stored.hint) == (
        org,
        "Billing system",
        hash_api_key(key),
        key[:10],
    )
    page = owner_client.get("/portal/api-keys/").content.decode()
    assert key not in page
    assert f"<code>{key[:10]}…</code>" in page
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.before, entry.after) == (
        "apikey.create",
        None,
        {"name": "Billing system", "hint": key[:10]},
    )


def test_the_key_works_against_the_management_api(owner_client, app, rival_app):
    key = create_key(owner_client)
    response = ApiClient(key).get("/api/v1/manage/apps")
    assert response.status_code == 200
    assert [a["providerId"] for a in response.json()] == ["AcmeInc"]
    assert ApiKey.objects.get().last_used is not None


def test_a_revoked_key_is_refused(owner_client, app):
    key = create_key(owner_client)
    stored = ApiKey.objects.get()
    response = owner_client.post(f"/portal/api-keys/{stored.pk}/revoke/")
    assert response["Location"] == "/portal/api-keys/"
    assert ApiClient(key).get("/api/v1/manage/apps").status_code == 401
    assert list(AuditEntry.objects.values_list("action", flat=True)) == ["apikey.revoke", "apikey.create"]


def test_a_key_needs_a_name(owner_client):
    response = owner_client.post("/portal/api-keys/", {"name": ""})
    assert response.context["form"].errors == {"name": ["This field is required."]}
    assert not ApiKey.objects.exists()
