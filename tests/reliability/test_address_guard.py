"""The outbound address guard, end to end: the phone API and the management API, closed policy.

tests/provisioning/test_outbound_guard.py checks the guard's verdicts one function at a time.
Here every spelling goes through the real entry points (POST /api/v1/provision, and PATCH of an
App's provisioning URL), and each refusal must be a 502/422 naming the reason, one line in the
security log, and no connection attempt at all. A name that resolves differently on its second
lookup (DNS rebinding) must not reach the second address.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from sessioncloud.providers.models import App, ProvisioningLogEntry
from sessioncloud.provisioning import upstream
from tests.factories import make_app
from tests.providerstub import ProviderStub, start_stub, stop_stub
from tests.reliability import figures

SECURITY = "sessioncloud.security"
PUBLIC = "93.184.216.34"

# (URL, the guard's reason). Literal spellings of refused addresses:
LITERALS: list[tuple[str, str]] = [
    ("https://127.0.0.1/p", "127.0.0.1 is a loopback address"),
    ("https://127.254.1.1/p", "127.254.1.1 is a loopback address"),
    ("https://127.1/p", "127.1 (127.0.0.1) is a loopback address"),
    ("https://2130706433/p", "2130706433 (127.0.0.1) is a loopback address"),
    ("https://0x7f000001/p", "0x7f000001 (127.0.0.1) is a loopback address"),
    ("https://0x7f.0.0.1/p", "0x7f.0.0.1 (127.0.0.1) is a loopback address"),
    ("https://0177.0.0.1/p", "0177.0.0.1 (127.0.0.1) is a loopback address"),
    ("https://0177.0000.0000.0001/p", "0177.0000.0000.0001 (127.0.0.1) is a loopback address"),
    ("https://127.000.000.001/p", "127.000.000.001 (127.0.0.1) is a loopback address"),
    ("https://127.0.0.1./p", "127.0.0.1 is a loopback address"),
    ("https://127.0.0.1:8443/p", "127.0.0.1 is a loopback address"),
    ("https://[::1]/p", "::1 is a loopback address"),
    ("https://[0:0:0:0:0:0:0:1]/p", "0:0:0:0:0:0:0:1 (::1) is a loopback address"),
    ("https://[::ffff:127.0.0.1]/p", "::ffff:127.0.0.1 (::ffff:7f00:1) is an IPv4-mapped form of 127.0.0.1"),
    ("https://[::ffff:7f00:1]/p", "::ffff:7f00:1 is an IPv4-mapped form of 127.0.0.1"),
    ("https://[::127.0.0.1]/p", "::127.0.0.1 (::7f00:1) is an IPv4-compatible form of 127.0.0.1"),
    (
        "https://[64:ff9b::127.0.0.1]/p",
        "64:ff9b::127.0.0.1 (64:ff9b::7f00:1) is a NAT64 form of 127.0.0.1, a loopback address",
    ),
    ("https://[2002:7f00:1::]/p", "2002:7f00:1:: is a 6to4 form of 127.0.0.1, a loopback address"),
    ("https://10.0.0.1/p", "10.0.0.1 is a private address"),
    ("https://012.0.0.1/p", "012.0.0.1 (10.0.0.1) is a private address"),
    ("https://167772161/p", "167772161 (10.0.0.1) is a private address"),
    ("https://172.16.0.1/p", "172.16.0.1 is a private address"),
    ("https://172.31.255.254/p", "172.31.255.254 is a private address"),
    ("https://192.168.0.1/p", "192.168.0.1 is a private address"),
    ("https://0xc0a80001/p", "0xc0a80001 (192.168.0.1) is a private address"),
    ("https://[fd00::1]/p", "fd00::1 is a private (unique local) address"),
    ("https://[fc00::1]/p", "fc00::1 is a private (unique local) address"),
    (
        "https://[::ffff:192.168.1.1]/p",
        "::ffff:192.168.1.1 (::ffff:c0a8:101) is an IPv4-mapped form of 192.168.1.1",
    ),
    ("https://100.64.0.1/p", "100.64.0.1 is a shared (CGNAT) address"),
    ("https://100.127.255.254/p", "100.127.255.254 is a shared (CGNAT) address"),
    ("https://169.254.1.1/p", "169.254.1.1 is a link-local address"),
    ("https://[fe80::1]/p", "fe80::1 is a link-local address"),
    ("https://[fe80::1%25eth0]/p", "fe80::1%25eth0 is a link-local address"),
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("https://2852039166/", "2852039166 (169.254.169.254) is a cloud metadata address"),
    ("https://0xa9fea9fe/", "0xa9fea9fe (169.254.169.254) is a cloud metadata address"),
    ("https://0251.0376.0251.0376/", "0251.0376.0251.0376 (169.254.169.254) is a cloud metadata address"),
    ("https://169.254.43518/", "169.254.43518 (169.254.169.254) is a cloud metadata address"),
    (
        "https://[::ffff:169.254.169.254]/",
        "::ffff:169.254.169.254 (::ffff:a9fe:a9fe) is an IPv4-mapped form of 169.254.169.254",
    ),
    (
        "https://[64:ff9b::a9fe:a9fe]/",
        "64:ff9b::a9fe:a9fe is a NAT64 form of 169.254.169.254, a cloud metadata address",
    ),
    (
        "https://[2002:a9fe:a9fe::]/",
        "2002:a9fe:a9fe:: is a 6to4 form of 169.254.169.254, a cloud metadata address",
    ),
    ("https://[fd00:ec2::254]/", "fd00:ec2::254 is a cloud metadata address"),
    ("https://169.254.170.2/v2/credentials", "169.254.170.2 is a cloud metadata address"),
    ("https://100.100.100.200/", "100.100.100.200 is a cloud metadata address"),
    ("https://168.63.129.16/", "168.63.129.16 is a cloud metadata address"),
    ("https://0.0.0.0/p", "0.0.0.0 is an unspecified address"),
    ("https://0/p", "0 (0.0.0.0) is an unspecified address"),
    ("https://[::]/p", ":: is an unspecified address"),
    ("https://224.0.0.1/p", "224.0.0.1 is a multicast address"),
    ("https://255.255.255.255/p", "255.255.255.255 is a reserved address"),
]

# Names and what (fake) DNS answers for them.
NAMES: dict[str, tuple[str, ...]] = {
    "loopback.example": ("127.0.0.1",),
    "loopback6.example": ("::1",),
    "private.example": ("10.1.2.3",),
    "cgnat.example": ("100.64.0.1",),
    "linklocal.example": ("169.254.10.10",),
    "metadata.example": ("169.254.169.254",),
    "metadata.google.internal": ("169.254.169.254",),
    "ula.example": ("fd12:3456::1",),
    "mapped.example": ("::ffff:192.168.1.1",),
    "nat64.example": ("64:ff9b::a9fe:a9fe",),
    "mixed.example": (PUBLIC, "10.0.0.1"),
    "mixed6.example": ("2606:2800:220:1::1", "fe80::5"),
}
NAME_REASONS = {
    "loopback.example": "127.0.0.1, a loopback address",
    "loopback6.example": "::1, a loopback address",
    "private.example": "10.1.2.3, a private address",
    "cgnat.example": "100.64.0.1, a shared (CGNAT) address",
    "linklocal.example": "169.254.10.10, a link-local address",
    "metadata.example": "169.254.169.254, a cloud metadata address",
    "metadata.google.internal": "169.254.169.254, a cloud metadata address",
    "ula.example": "fd12:3456::1, a private (unique local) address",
    "mapped.example": "::ffff:192.168.1.1, an IPv4-mapped form of 192.168.1.1",
    "nat64.example": "64:ff9b::a9fe:a9fe, a NAT64 form of 169.254.169.254, a cloud metadata address",
    "mixed.example": "10.0.0.1, a private address",
    "mixed6.example": "fe80::5, a link-local address",
}
MATRIX = LITERALS + [(f"https://{name}/p", f"{name} resolves to {NAME_REASONS[name]}") for name in NAMES]


class FakeDns:
    """getaddrinfo for the names above (and a per-name sequence of answers); others resolve for real."""

    def __init__(self) -> None:
        self.answers: dict[str, list[tuple[str, ...]]] = {
            name: [addresses] for name, addresses in NAMES.items()
        }
        self.lookups: list[str] = []
        self._real = socket.getaddrinfo
        self._lock = threading.Lock()

    def answer(self, name: str, *sequence: tuple[str, ...]) -> None:
        """Answer `name` with each of `sequence` in turn, the last one from then on."""
        self.answers[name] = list(sequence)

    def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in self.answers:
            return self._real(host, port, *args, **kwargs)
        with self._lock:
            self.lookups.append(name)
            queue = self.answers[name]
            addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in addresses
        ]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    fake = FakeDns()
    monkeypatch.setattr(socket, "getaddrinfo", fake.getaddrinfo)
    return fake


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every connection the provider client tries to open; none is ever opened."""
    attempts: list[tuple[str, int]] = []

    async def refuse(address: str, port: int, *args: Any) -> Any:
        attempts.append((address, port))
        raise ConnectionRefusedError("this test allows no outbound connection")

    monkeypatch.setattr(upstream, "_open_connection", refuse)
    return attempts


@pytest.fixture
def closed_policy(settings: Any) -> None:
    """The production default: public unicast HTTPS only."""
    settings.OUTBOUND_ALLOW_NETS = ()
    settings.OUTBOUND_ALLOW_HTTP = False


def security_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == SECURITY]


def external_app(org: Any, number: int, url: str) -> App:
    app = make_app(
        org, f"Guard{number}", provisioning_mode="external", provisioning_url="https://prov.example/p"
    )
    App.objects.filter(pk=app.pk).update(provisioning_url=url)  # as if saved before a DNS change
    return App.objects.get(pk=app.pk)


def provision(client: Any, provider_id: str) -> Any:
    return client.post(
        "/api/v1/provision",
        {"providerId": provider_id, "username": "1000", "password": "s3cret-pin", "deviceId": "dev-1"},
    )


@pytest.mark.django_db
def test_every_refused_address_is_refused_by_the_phone_api_logged_and_never_connected(
    org, api, closed_policy, dns, connects, caplog
):
    caplog.set_level(logging.WARNING, logger=SECURITY)
    results, logged, expected_logged = {}, {}, {}
    for number, (url, reason) in enumerate(MATRIX):
        app = external_app(org, number, url)
        caplog.clear()
        response = api.post(
            "/api/v1/provision",
            {
                "providerId": app.provider_id,
                "username": "1000",
                "password": "s3cret-pin",
                "deviceId": "dev-1",
            },
        )
        results[url] = (
            response.status_code,
            response.json()["error"]["code"],
            ProvisioningLogEntry.objects.get(app=app).detail,
        )
        logged[url] = [(r.name, r.getMessage(), r.event) for r in security_records(caplog)]  # type: ignore[attr-defined]
        expected_logged[url] = [(SECURITY, f"outbound call refused: {reason}", "outbound_refused")]
        figures.case(
            "address guard, phone API",
            results[url] == (502, "provider_unreachable", f"refused: {reason}")
            and logged[url] == expected_logged[url],
        )
        assert "s3cret-pin" not in caplog.text

    assert results == {url: (502, "provider_unreachable", f"refused: {reason}") for url, reason in MATRIX}
    assert logged == expected_logged
    assert connects == []


def saved_reason(url: str, reason: str) -> str:
    """What the tenant who saves the URL is told: a literal address it typed is named with its
    reason; what a name resolves to stays in the security log."""
    host = url.split("//", 1)[1].split("/", 1)[0]
    name = host.removesuffix(".") if host.removesuffix(".") in NAMES else None
    return f"{name} resolves to an address SessionCloud may not call" if name else reason


@pytest.mark.django_db
def test_every_refused_address_is_refused_when_saved_through_the_management_api(
    org, api, app, closed_policy, dns, caplog
):
    caplog.set_level(logging.WARNING, logger=SECURITY)
    answers, logged = {}, {}
    for url, _ in MATRIX:
        caplog.clear()
        response = api.patch(
            "/api/v1/manage/apps/AcmeInc", {"provisioning": {"mode": "external", "url": url}}
        )
        answers[url] = (response.status_code, response.json()["error"].get("fields"))
        logged[url] = [r.getMessage() for r in security_records(caplog)]
        figures.case("address guard, management API", response.status_code == 422 and len(logged[url]) == 1)

    assert answers == {
        url: (422, {"provisioning.url": f"SessionCloud cannot call this URL: {saved_reason(url, reason)}."})
        for url, reason in MATRIX
    }
    assert logged == {url: [f"outbound call refused: {reason}"] for url, reason in MATRIX}
    app.refresh_from_db()
    assert (app.provisioning_mode, app.provisioning_url) == ("portal", "")


@pytest.mark.django_db
def test_a_name_that_passed_when_saved_but_now_resolves_to_loopback_is_refused_at_call_time(
    org, api, closed_policy, dns, connects, caplog
):
    dns.answer("rebind.example", (PUBLIC,), ("127.0.0.1",))
    make_app(org, "Rebind", name="Rebind")
    saved = api.patch(
        "/api/v1/manage/apps/Rebind",
        {"provisioning": {"mode": "external", "url": "https://rebind.example/p"}},
    )
    assert (saved.status_code, saved.json()["warnings"]) == (200, [])
    caplog.set_level(logging.WARNING, logger=SECURITY)

    response = provision(api, "Rebind")

    assert (response.status_code, response.json()["error"]["code"]) == (502, "provider_unreachable")
    assert ProvisioningLogEntry.objects.get().detail == (
        "refused: rebind.example resolves to 127.0.0.1, a loopback address"
    )
    assert [r.getMessage() for r in security_records(caplog)] == [
        "outbound call refused: rebind.example resolves to 127.0.0.1, a loopback address"
    ]
    assert dns.lookups == ["rebind.example", "rebind.example"]  # one when saved, one per call
    assert connects == []


@pytest.fixture
def twin_services() -> Iterator[tuple[ProviderStub, ProviderStub]]:
    """The allowed provider on 127.0.0.2 and a forbidden one on 127.0.0.1, on the same port."""
    allowed = start_stub(host="127.0.0.2")
    forbidden = start_stub(host="127.0.0.1", port=allowed.port)
    allowed.answer_json({"update": True, "sipaccounts": [{"sipusername": "allowed", "sippassword": "pw"}]})
    forbidden.answer_json(
        {"update": True, "sipaccounts": [{"sipusername": "forbidden", "sippassword": "pw"}]}
    )
    yield allowed, forbidden
    stop_stub(allowed)
    stop_stub(forbidden)


@pytest.fixture
def only_127_0_0_2(settings: Any) -> None:
    import ipaddress

    settings.OUTBOUND_ALLOW_NETS = (ipaddress.ip_network("127.0.0.2/32"),)
    settings.OUTBOUND_ALLOW_HTTP = True


@pytest.mark.django_db
def test_a_name_that_rebinds_on_its_second_lookup_is_looked_up_once_and_pinned(
    org, api, dns, twin_services, only_127_0_0_2, caplog
):
    allowed, forbidden = twin_services
    dns.answer("rebind.example", ("127.0.0.2",), ("127.0.0.1",))
    make_app(
        org,
        "Rebind",
        name="Rebind",
        provisioning_mode="external",
        provisioning_url=f"http://rebind.example:{allowed.port}/provisioning",
    )
    caplog.set_level(logging.WARNING, logger=SECURITY)

    response = provision(api, "Rebind")

    assert response.status_code == 200
    assert [a["sipusername"] for a in response.json()["sipaccounts"]] == ["allowed"]
    assert dns.lookups == ["rebind.example"]
    assert (len(allowed.requests), len(forbidden.requests)) == (1, 0)
    assert allowed.requests[0].headers["Host"] == f"rebind.example:{allowed.port}"
    assert security_records(caplog) == []


@pytest.mark.django_db
def test_a_name_refused_on_its_first_lookup_is_not_tried_again(
    org, api, dns, twin_services, only_127_0_0_2, caplog
):
    allowed, forbidden = twin_services
    dns.answer("rebind.example", ("127.0.0.1",), ("127.0.0.2",))
    make_app(
        org,
        "Rebind",
        name="Rebind",
        provisioning_mode="external",
        provisioning_url=f"http://rebind.example:{allowed.port}/provisioning",
    )
    caplog.set_level(logging.WARNING, logger=SECURITY)

    response = provision(api, "Rebind")

    assert (response.status_code, response.json()["error"]["code"]) == (502, "provider_unreachable")
    assert dns.lookups == ["rebind.example"]
    assert (len(allowed.requests), len(forbidden.requests)) == (0, 0)
    assert [r.getMessage() for r in security_records(caplog)] == [
        "outbound call refused: rebind.example resolves to 127.0.0.1, a loopback address"
    ]


@pytest.mark.django_db
def test_the_same_name_is_looked_up_again_on_every_call(org, api, dns, twin_services, only_127_0_0_2):
    allowed, forbidden = twin_services
    dns.answer("rebind.example", ("127.0.0.2",), ("127.0.0.1",))
    make_app(
        org,
        "Rebind",
        name="Rebind",
        provisioning_mode="external",
        provisioning_url=f"http://rebind.example:{allowed.port}/provisioning",
    )

    first, second = provision(api, "Rebind"), provision(api, "Rebind")

    assert (first.status_code, second.status_code) == (200, 502)
    assert dns.lookups == ["rebind.example", "rebind.example"]
    assert (len(allowed.requests), len(forbidden.requests)) == (1, 0)
    assert list(ProvisioningLogEntry.objects.order_by("id").values_list("outcome", "detail")) == [
        ("ok", ""),
        ("failed", "refused: rebind.example resolves to 127.0.0.1, a loopback address"),
    ]


def test_the_matrix_covers_every_kind_of_refused_address() -> None:
    reasons = {reason.rsplit(" is ", 1)[-1] for _, reason in LITERALS}
    assert {
        "a loopback address",
        "a private address",
        "a private (unique local) address",
        "a shared (CGNAT) address",
        "a link-local address",
        "a cloud metadata address",
        "an unspecified address",
        "a multicast address",
        "a reserved address",
    } <= reasons
    assert any("IPv4-mapped" in r for r in reasons) and any("NAT64" in r for r in reasons)
    assert any("6to4" in r for r in reasons) and any("IPv4-compatible" in r for r in reasons)
