"""Portal fixtures: users with verified addresses, members of each role, logged-in clients."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import User
from django.test import Client

from sessioncloud.accounts.models import Membership, Organization, Role
from sessioncloud.providers.models import App
from tests.factories import make_app

PASSWORD = "correct-horse-battery-staple"
PUBLIC_ADDRESS = "93.184.215.14"


def make_user(email: str, password: str = PASSWORD) -> User:
    user = User.objects.create_user(username=email, email=email, password=password)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def member(organization: Organization, email: str, role: str) -> User:
    user = make_user(email)
    Membership.objects.create(organization=organization, user=user, role=role)
    return user


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def example_names_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names under .example resolve to a public address, under .invalid to nothing; no real DNS."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if isinstance(host, str) and host.endswith(".example"):
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (PUBLIC_ADDRESS, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def owner(org: Organization) -> User:
    return member(org, "owner@acme.example", Role.OWNER)


@pytest.fixture
def admin_user(org: Organization) -> User:
    return member(org, "admin@acme.example", Role.ADMIN)


@pytest.fixture
def viewer(org: Organization) -> User:
    return member(org, "viewer@acme.example", Role.VIEWER)


@pytest.fixture
def owner_client(owner: User) -> Client:
    return client_for(owner)


@pytest.fixture
def admin_client(admin_user: User) -> Client:
    return client_for(admin_user)


@pytest.fixture
def viewer_client(viewer: User) -> Client:
    return client_for(viewer)


@pytest.fixture
def rival_app(other_org: Organization) -> App:
    return make_app(other_org, "RivalCo", name="Rival Telecom", sip_domain="sip.rival.example")


def form_data(response: Any, **changes: Any) -> dict[str, Any]:
    """What a browser would send back for the page's form, with some fields changed.

    A change to None leaves the field out (an unticked checkbox).
    """
    from django import forms

    data: dict[str, Any] = {}
    for field in response.context["form"]:
        value = field.value()
        if isinstance(field.field, forms.FileField) or isinstance(value, (list, dict)):
            continue
        if isinstance(field.field, forms.BooleanField):
            if value:
                data[field.html_name] = "on"
        elif value is not None:
            data[field.html_name] = value
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def audit_changes(entry: Any) -> dict[str, tuple[Any, Any]]:
    before, after = entry.before or {}, entry.after or {}
    return {
        key: (before.get(key), after.get(key))
        for key in sorted({*before, *after})
        if before.get(key) != after.get(key)
    }
