"""Shared fixtures: organizations, API keys and clients for the management API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from sessioncloud.accounts.models import ApiKey, Organization
from sessioncloud.providers import outbound
from sessioncloud.providers.models import App
from sessioncloud.provisioning.breaker import MemoryBreakerStore
from tests.factories import make_app


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The database rolls back after each test (and hands out the same ids again); the cache and
    # the in-process circuit breakers must forget with it.
    cache.clear()
    monkeypatch.setattr(outbound, "_memory_store", MemoryBreakerStore())
    yield
    cache.clear()


class ApiClient:
    """A test client that speaks JSON and carries an organization's API key."""

    def __init__(self, key: str | None):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def _send(self, method: str, path: str, body: Any = None, **extra: Any) -> Any:
        data = json.dumps(body) if body is not None else None
        send = getattr(self.client, method)
        kwargs = {"content_type": "application/json"} if data is not None else {}
        return send(path, data=data, headers={**self.headers, **extra.pop("headers", {})}, **kwargs, **extra)

    def get(self, path: str, **extra: Any) -> Any:
        return self._send("get", path, **extra)

    def post(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self._send("post", path, body, **extra)

    def patch(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self._send("patch", path, body, **extra)

    def put(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self._send("put", path, body, **extra)

    def delete(self, path: str, **extra: Any) -> Any:
        return self._send("delete", path, **extra)

    def put_bytes(self, path: str, data: bytes, content_type: str) -> Any:
        return self.client.put(path, data=data, content_type=content_type, headers=self.headers)


@pytest.fixture
def org(db: Any) -> Organization:
    return Organization.objects.create(slug="acme", name="Acme Telecom")


@pytest.fixture
def other_org(db: Any) -> Organization:
    return Organization.objects.create(slug="rival", name="Rival Telecom")


@pytest.fixture
def api(org: Organization) -> ApiClient:
    _, key = ApiKey.issue(org, "tests")
    return ApiClient(key)


@pytest.fixture
def other_api(other_org: Organization) -> ApiClient:
    _, key = ApiKey.issue(other_org, "rival tests")
    return ApiClient(key)


@pytest.fixture
def app(org: Organization) -> App:
    return make_app(org)
