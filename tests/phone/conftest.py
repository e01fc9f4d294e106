from __future__ import annotations

from collections.abc import Iterator

import pytest

from sessioncloud.providers.models import App
from tests.factories import make_app
from tests.providerstub import ProviderStub, start_stub, stop_stub


@pytest.fixture
def provider() -> Iterator[ProviderStub]:
    stub = start_stub()
    yield stub
    stop_stub(stub)


@pytest.fixture(autouse=True)
def loopback_allowed(settings) -> None:
    import ipaddress

    settings.OUTBOUND_ALLOW_NETS = (ipaddress.ip_network("127.0.0.0/8"),)
    settings.OUTBOUND_ALLOW_HTTP = True


@pytest.fixture
def external_app(org, provider: ProviderStub) -> App:
    return make_app(
        org,
        "ExtInc",
        sip_domain="sip.ext.example:5070",
        sip_transport="UDP",
        use_subdomains=True,
        provisioning_mode="external",
        provisioning_url=provider.url(),
        provisioning_auth_header="Bearer upstream-s3cret",
        provisioning_timeout=2,
    )
