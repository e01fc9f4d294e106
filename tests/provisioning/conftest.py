"""Fixtures for the provisioning core: a provider service on loopback and a policy that allows it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sessioncloud.provisioning.guard import OutboundPolicy
from tests.certificates import self_signed
from tests.providerstub import LOOPBACK_POLICY, ProviderStub, start_stub, stop_stub


@pytest.fixture
def provider() -> Iterator[ProviderStub]:
    stub = start_stub()
    yield stub
    stop_stub(stub)


@pytest.fixture
def loopback_policy() -> OutboundPolicy:
    return LOOPBACK_POLICY


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for provider.test, and its key."""
    return self_signed(tmp_path_factory.mktemp("tls"), "provider.test")
