"""The connection goes to the address the guard checked: one lookup, no second chance."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sessioncloud.provisioning.guard import OutboundPolicy
from sessioncloud.provisioning.upstream import (
    UpstreamRequest,
    call_provider_blocking,
)
from tests.providerstub import LOOPBACK_POLICY, ProviderStub, start_stub, stop_stub

ANSWER = {"update": True, "sipaccounts": [{"sipusername": "1000", "sippassword": "x"}]}


class FakeDns:
    """Answers the first lookup with one address and every later lookup with another."""

    def __init__(self, first: str, later: str) -> None:
        self.first, self.later = first, later
        self.lookups: list[str] = []

    def __call__(self, host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        self.lookups.append(host)
        address = self.first if len(self.lookups) == 1 else self.later
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]


@pytest.fixture
def two_servers() -> Iterator[tuple[ProviderStub, ProviderStub]]:
    checked = start_stub("127.0.0.1")
    rebound = start_stub("127.0.0.2", checked.port)  # same port, the address a rebinding would pick
    yield checked, rebound
    stop_stub(checked)
    stop_stub(rebound)


def test_it_looks_the_host_up_once_and_connects_to_the_checked_address(
    two_servers: tuple[ProviderStub, ProviderStub], monkeypatch: pytest.MonkeyPatch
) -> None:
    checked, rebound = two_servers
    for stub in two_servers:
        stub.answer_json(ANSWER)
    dns = FakeDns(first="127.0.0.1", later="127.0.0.2")
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    request = UpstreamRequest(
        url=f"http://provider.test:{checked.port}/p", username="1000", password="1234", timeout_seconds=1
    )

    result = call_provider_blocking(request, LOOPBACK_POLICY)

    assert result.error_code is None
    assert dns.lookups == ["provider.test"]
    assert len(checked.requests) == 1
    assert rebound.requests == []
    assert checked.requests[0].headers["Host"] == f"provider.test:{checked.port}"


def test_it_refuses_when_any_resolved_address_is_refused(
    provider: ProviderStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    def mixed(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port)),
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("10.0.0.7", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", mixed)
    request = UpstreamRequest(url=f"http://provider.test:{provider.port}/p", username="1000", password="1234")

    result = call_provider_blocking(request, LOOPBACK_POLICY)

    assert (result.error_code, result.detail) == (
        "provider_unreachable",
        "refused: provider.test resolves to 10.0.0.7, a private address",
    )
    assert provider.requests == []


# --- TLS: pinned to an address, verified against the name ------------------------------------


@pytest.fixture
def tls_provider(certificate: tuple[Path, Path]) -> Iterator[tuple[ProviderStub, list[str | None]]]:
    server_names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    stub = start_stub(wrap=lambda sock: context.wrap_socket(sock, server_side=True))
    stub.answer_json(ANSWER)
    yield stub, server_names
    stop_stub(stub)


def resolve_to_loopback(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    dns = FakeDns(first="127.0.0.1", later="127.0.0.1")
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    return dns


def test_tls_sends_the_hostname_as_sni_and_verifies_the_certificate(
    tls_provider: tuple[ProviderStub, list[str | None]],
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stub, server_names = tls_provider
    resolve_to_loopback(monkeypatch)
    trust = ssl.create_default_context(cafile=str(certificate[0]))
    request = UpstreamRequest(
        url=f"https://provider.test:{stub.port}/p", username="1000", password="1234", timeout_seconds=1
    )

    result = call_provider_blocking(
        request, OutboundPolicy(allow_nets=LOOPBACK_POLICY.allow_nets), ssl_context=trust
    )

    assert result.error_code is None
    assert server_names == ["provider.test"]
    assert stub.requests[0].headers["Host"] == f"provider.test:{stub.port}"


def test_tls_refuses_a_certificate_for_another_name(
    tls_provider: tuple[ProviderStub, list[str | None]],
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stub, _ = tls_provider
    resolve_to_loopback(monkeypatch)
    trust = ssl.create_default_context(cafile=str(certificate[0]))
    request = UpstreamRequest(
        url=f"https://other.test:{stub.port}/p", username="1000", password="1234", timeout_seconds=1
    )

    result = call_provider_blocking(
        request, OutboundPolicy(allow_nets=LOOPBACK_POLICY.allow_nets), ssl_context=trust
    )

    assert result.error_code == "provider_unreachable"
    assert result.detail.startswith(
        f"could not connect to other.test:{stub.port}: [SSL: CERTIFICATE_VERIFY_FAILED]"
    )
    assert "Hostname mismatch" in result.detail
    assert stub.requests == []


def test_tls_refuses_an_untrusted_certificate(
    tls_provider: tuple[ProviderStub, list[str | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    stub, _ = tls_provider
    resolve_to_loopback(monkeypatch)
    request = UpstreamRequest(
        url=f"https://provider.test:{stub.port}/p", username="1000", password="1234", timeout_seconds=1
    )

    result = call_provider_blocking(request, OutboundPolicy(allow_nets=LOOPBACK_POLICY.allow_nets))

    assert result.error_code == "provider_unreachable"
    assert "[SSL: CERTIFICATE_VERIFY_FAILED]" in result.detail
