"""Saving a provisioning URL tells the tenant what it typed was refused, never what names resolve to."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from sessioncloud.providers.models import App
from tests.portal.conftest import form_data

pytestmark = pytest.mark.django_db
PAGE = "/portal/apps/AcmeInc/provisioning/"


@pytest.fixture
def intranet_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """db.intranet.example resolves, inside SessionCloud's network only, to a private address."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "db.intranet.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("10.20.30.40", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_the_portal_refuses_an_internal_name_without_naming_its_address(
    owner_client, app, intranet_name, caplog
):
    response = owner_client.post(
        PAGE,
        form_data(
            owner_client.get(PAGE),
            provisioning_mode="external",
            provisioning_url="https://db.intranet.example/p",
        ),
    )
    assert response.context["form"].errors == {
        "provisioning_url": [
            "SessionCloud cannot call this URL: db.intranet.example resolves to an address SessionCloud may "
            "not call."
        ]
    }
    assert "10.20.30.40" not in response.content.decode()
    assert [r.getMessage() for r in caplog.records if r.name == "sessioncloud.security"] == [
        "outbound call refused: db.intranet.example resolves to 10.20.30.40, a private address"
    ]
    assert App.objects.get().provisioning_url == ""


def test_the_management_api_refuses_it_the_same_way(api, app, intranet_name):
    response = api.patch(
        "/api/v1/manage/apps/AcmeInc",
        {"provisioning": {"mode": "external", "url": "https://db.intranet.example/p"}},
    )
    assert (response.status_code, response.json()["error"]["fields"]) == (
        422,
        {
            "provisioning.url": (
                "SessionCloud cannot call this URL: db.intranet.example resolves to an address SessionCloud "
                "may not call."
            )
        },
    )
