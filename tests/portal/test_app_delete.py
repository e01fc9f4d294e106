"""Deleting an App in the portal: asked first, everything it holds goes, its ProviderId stays reserved."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.test import Client

from sessioncloud.accounts.models import AuditEntry
from sessioncloud.onboarding.models import Job
from sessioncloud.providers.models import (
    App,
    Device,
    EndUser,
    ProvisioningLogEntry,
    RetiredProviderId,
    SetupToken,
)
from sessioncloud.providers.tokens import issue_token
from tests.factories import make_end_user

pytestmark = pytest.mark.django_db

DELETE = "/portal/apps/AcmeInc/delete/"


@pytest.fixture
def filled(app: App) -> App:
    """An App with two end users, a setup token, a device, three log rows and a finished job."""
    first = make_end_user(app, "cust-1")
    make_end_user(app, "cust-2")
    issue_token(first)
    Device.objects.create(app=app, device_id="phone-1")
    for _ in range(3):
        ProvisioningLogEntry.objects.create(app=app, flow="provision", outcome="ok")
    Job.objects.create(organization=app.organization, app=app, kind="import", status="done")
    return app


def consequences(response: Any) -> list[str]:
    listed = re.search(
        r'<ul class="consequences" id="consequences">(.*?)</ul>', response.content.decode(), re.S
    )
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", listed.group(1))]


def test_the_general_page_offers_deletion_to_editors(owner_client, app):
    content = owner_client.get("/portal/apps/AcmeInc/general/").content.decode()
    assert f'<a class="btn danger" href="{DELETE}">Delete this App…</a>' in content


def test_the_general_page_offers_no_deletion_to_viewers(viewer_client, app):
    assert DELETE not in viewer_client.get("/portal/apps/AcmeInc/general/").content.decode()


def test_the_confirmation_names_what_happens_to_phones_users_devices_and_logs(owner_client, filled):
    response = owner_client.get(DELETE)
    assert response.status_code == 200
    assert '<h2 id="confirm-title">Delete the App Acme Telecom (AcmeInc)?</h2>' in response.content.decode()
    assert consequences(response) == [
        "Phones: asking for the configuration of AcmeInc gets 404 (provider_not_found) from now on, and "
        "logins "
        "and setup links for it are refused the same way. Phones keep the accounts they already have until "
        "their app asks again.",
        "End users: its 2 end users and 1 setup token are deleted; unused setup links stop working. Export "
        "the "
        "end users first (Bulk, Export) if you may need them again.",
        "Devices and logs: its 1 device, 3 provisioning log rows and 1 bulk job (with their files) are "
        "deleted.",
        "The ProviderId AcmeInc stays reserved for Acme Telecom: no one else can take it, so phones that "
        "still "
        "hold it never reach another provider. You can create an App with it again.",
        "The audit log keeps the App's last settings and who deleted it. There is no undo: to stop phones "
        "for "
        "a while, disable the App on the General page instead.",
    ]


def test_asking_deletes_nothing(owner_client, filled):
    owner_client.get(DELETE)
    assert (App.objects.count(), EndUser.objects.count(), AuditEntry.objects.count()) == (1, 2, 0)


def test_without_the_typed_provider_id_nothing_is_deleted(owner_client, filled):
    response = owner_client.post(DELETE, {"confirm_text": "Acme"})
    assert response.status_code == 400
    assert "<li>Type AcmeInc as shown to delete this App.</li>" in response.content.decode()
    assert App.objects.count() == 1


def test_confirming_deletes_the_app_and_everything_it_holds(owner_client, filled):
    response = owner_client.post(DELETE, {"confirm_text": " acmeinc "}, follow=True)
    assert response.redirect_chain == [("/portal/", 302)]
    assert [str(m) for m in response.context["messages"]] == [
        "Deleted the App AcmeInc. Its ProviderId stays reserved for Acme Telecom."
    ]
    counts = [
        model.objects.count() for model in (App, EndUser, SetupToken, Device, ProvisioningLogEntry, Job)
    ]
    assert counts == [0, 0, 0, 0, 0, 0]


def test_the_deletion_is_audited_with_the_apps_last_settings(owner_client, filled):
    owner_client.post(DELETE, {"confirm_text": "AcmeInc"})
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.object_repr, entry.after) == (
        "owner@acme.example",
        "app.delete",
        "AcmeInc",
        None,
    )
    assert (entry.before["providerId"], entry.before["sip.domain"]) == ("AcmeInc", "sip.acme.example")


def test_the_provider_id_stays_reserved_for_the_organization(owner_client, filled, org):
    owner_client.post(DELETE, {"confirm_text": "AcmeInc"})
    retired = RetiredProviderId.objects.get()
    assert (retired.provider_id, retired.organization, retired.retired_by) == (
        "AcmeInc",
        org,
        "owner@acme.example",
    )


def test_an_admin_may_delete_an_app(admin_client, app):
    admin_client.post(DELETE, {"confirm_text": "AcmeInc"})
    assert not App.objects.exists()


def test_a_viewer_can_neither_delete_nor_is_offered_the_button(viewer_client, app):
    content = viewer_client.get(DELETE).content.decode()
    assert '<p class="alert" id="confirm-refusal">Only owners and admins can do this.</p>' in content
    assert viewer_client.post(DELETE, {"confirm_text": "AcmeInc"}).status_code == 403
    assert App.objects.count() == 1


def test_another_organizations_app_is_not_found(owner_client, rival_app):
    assert owner_client.get("/portal/apps/RivalCo/delete/").status_code == 404
    assert owner_client.post("/portal/apps/RivalCo/delete/", {"confirm_text": "RivalCo"}).status_code == 404
    assert App.objects.filter(provider_id="RivalCo").exists()


def test_an_app_with_a_running_job_is_not_deleted(owner_client, app):
    Job.objects.create(organization=app.organization, app=app, kind="qr_zip", status="running")
    content = owner_client.get(DELETE).content.decode()
    assert (
        '<p class="alert" id="confirm-refusal">A bulk job of this App is still running: delete the App once '
        "it has finished.</p>"
    ) in content
    response = owner_client.post(DELETE, {"confirm_text": "AcmeInc"}, follow=True)
    assert [str(m) for m in response.context["messages"]] == [
        "A bulk job of this App is still running: delete the App once it has finished."
    ]
    assert App.objects.count() == 1


def test_phones_get_404_for_the_config_at_once_even_when_it_was_cached(owner_client, app):
    phone = Client()
    assert phone.get("/api/v1/providers/AcmeInc/config").status_code == 200  # now cached
    owner_client.post(DELETE, {"confirm_text": "AcmeInc"})
    response = phone.get("/api/v1/providers/AcmeInc/config")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "provider_not_found")


def test_phones_are_refused_provisioning(owner_client, app):
    owner_client.post(DELETE, {"confirm_text": "AcmeInc"})
    response = Client().post(
        "/api/v1/provision",
        {"providerId": "AcmeInc", "username": "1000", "password": "1", "deviceId": "phone-1"},
        content_type="application/json",
    )
    assert (response.status_code, response.json()["error"]["code"]) == (404, "provider_not_found")


def test_a_setup_link_of_the_deleted_app_is_invalid(owner_client, app):
    issued = issue_token(make_end_user(app, "cust-1"))
    owner_client.post(DELETE, {"confirm_text": "AcmeInc"})
    response = Client().post(
        "/api/v1/tokens/redeem",
        {"token": issued.plain, "deviceId": "phone-1"},
        content_type="application/json",
    )
    assert (response.status_code, response.json()["error"]["code"]) == (404, "token_invalid")


def test_another_organization_cannot_take_the_provider_id(owner_client, app, other_org):
    owner_client.post(DELETE, {"confirm_text": "AcmeInc"})
    rival = App(organization=other_org, provider_id="ACMEINC", name="Copy", sip_domain="sip.copy.example")
    with pytest.raises(Exception, match="This ProviderId is already taken."):
        rival.full_clean()


def test_the_same_organization_may_create_it_again(owner_client, app):
    owner_client.post(DELETE, {"confirm_text": "AcmeInc"})
    response = owner_client.post(
        "/portal/apps/new/",
        {"provider_id": "AcmeInc", "name": "Acme again", "kind": "generic", "sip_domain": "sip.acme.example"},
    )
    assert response["Location"] == "/portal/apps/AcmeInc/general/"
    assert App.objects.get().name == "Acme again"
