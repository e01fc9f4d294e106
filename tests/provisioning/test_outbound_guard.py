"""The outbound address guard: only public unicast HTTPS passes unless the operator allows more."""

from __future__ import annotations

import logging
import socket
from ipaddress import ip_address, ip_network
from typing import Any

import pytest

from sessioncloud.provisioning.guard import (
    GuardError,
    OutboundPolicy,
    ParsedTarget,
    check_address,
    check_url,
    check_url_for_save,
    refusal_reason,
    resolve_checked,
)

CLOSED = OutboundPolicy()


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.255.255.254", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("172.31.255.255", "a private address"),
        ("192.168.1.1", "a private address"),
        ("100.64.0.1", "a shared (CGNAT) address"),
        ("100.127.255.255", "a shared (CGNAT) address"),
        ("169.254.1.1", "a link-local address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("169.254.170.2", "a cloud metadata address"),
        ("100.100.100.200", "a cloud metadata address"),
        ("168.63.129.16", "a cloud metadata address"),
        ("224.0.0.1", "a multicast address"),
        ("239.255.255.250", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("255.255.255.255", "a reserved address"),
        ("0.0.0.0", "an unspecified address"),
        ("0.1.2.3", "an unspecified address"),
        ("192.0.0.8", "a reserved address"),
        ("192.0.2.10", "a documentation address"),
        ("198.51.100.10", "a documentation address"),
        ("203.0.113.10", "a documentation address"),
        ("198.18.0.1", "a benchmarking address"),
        ("198.19.255.255", "a benchmarking address"),
        ("::1", "a loopback address"),
        ("::", "an unspecified address"),
        ("fe80::1", "a link-local address"),
        ("fc00::1", "a private (unique local) address"),
        ("fd12:3456::1", "a private (unique local) address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("ff02::1", "a multicast address"),
        ("2001:db8::1", "a documentation address"),
        ("3fff::1", "a documentation address"),
        ("2001:2::1", "a benchmarking address"),
        ("::ffff:127.0.0.1", "an IPv4-mapped form of 127.0.0.1"),
        ("::ffff:8.8.8.8", "an IPv4-mapped form of 8.8.8.8"),
        ("::127.0.0.1", "an IPv4-compatible form of 127.0.0.1"),
        ("::8.8.8.8", "an IPv4-compatible form of 8.8.8.8"),
        ("64:ff9b::7f00:1", "a NAT64 form of 127.0.0.1, a loopback address"),
        ("64:ff9b::a9fe:a9fe", "a NAT64 form of 169.254.169.254, a cloud metadata address"),
        ("64:ff9b:1::1", "a local-use NAT64 address"),
        ("2002:7f00:1::", "a 6to4 form of 127.0.0.1, a loopback address"),
        ("2002:a00:1::1", "a 6to4 form of 10.0.0.1, a private address"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "a Teredo tunnel address"),
        ("2001:10::1", "a reserved address"),
        ("100::1", "a reserved address"),
        ("5f00::1", "a reserved address"),
        ("fec0::1", "a reserved address"),
    ],
)
def test_it_refuses_every_non_public_address(address: str, reason: str) -> None:
    assert refusal_reason(ip_address(address), CLOSED) == reason

    with pytest.raises(GuardError) as error:
        check_address(address, CLOSED)

    assert (error.value.code, error.value.message) == (
        "address_refused",
        f"{ip_address(address)} is {reason}",
    )


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "2606:4700:4700::1111",
        "2a00:1450:4001::200e",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_it_lets_public_unicast_addresses_pass(address: str) -> None:
    assert refusal_reason(ip_address(address), CLOSED) is None
    check_address(address, CLOSED)


def test_it_lets_an_allowed_network_pass() -> None:
    policy = OutboundPolicy(allow_nets=(ip_network("10.20.0.0/16"), ip_network("fd00::/8")))

    check_address("10.20.3.4", policy)
    check_address("fd00::5", policy)
    assert refusal_reason(ip_address("10.21.0.1"), policy) == "a private address"


def test_an_allowed_ipv4_network_does_not_allow_its_mapped_ipv6_form() -> None:
    policy = OutboundPolicy(allow_nets=(ip_network("127.0.0.0/8"),))

    assert refusal_reason(ip_address("::ffff:127.0.0.1"), policy) == "an IPv4-mapped form of 127.0.0.1"


def test_the_policy_reads_cidr_strings_from_settings() -> None:
    policy = OutboundPolicy.from_settings([" 10.0.0.0/8", "", "fd00::/8 "], allow_http=True)

    assert policy == OutboundPolicy(
        allow_nets=(ip_network("10.0.0.0/8"), ip_network("fd00::/8")), allow_http=True
    )


# --- URLs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://127.0.0.1/p", "127.0.0.1 is a loopback address"),
        ("https://2130706433/p", "2130706433 (127.0.0.1) is a loopback address"),
        ("https://0x7f000001/p", "0x7f000001 (127.0.0.1) is a loopback address"),
        ("https://0x7f.1/p", "0x7f.1 (127.0.0.1) is a loopback address"),
        ("https://127.1/p", "127.1 (127.0.0.1) is a loopback address"),
        ("https://0177.0.0.1/p", "0177.0.0.1 (127.0.0.1) is a loopback address"),
        ("https://127.0.0.1./p", "127.0.0.1 is a loopback address"),
        ("https://0/p", "0 (0.0.0.0) is an unspecified address"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254 is a cloud metadata address"),
        ("https://0xa9fea9fe/", "0xa9fea9fe (169.254.169.254) is a cloud metadata address"),
        ("https://[::1]:8443/p", "::1 is a loopback address"),
        (
            "https://[::ffff:127.0.0.1]/p",
            "::ffff:127.0.0.1 (::ffff:7f00:1) is an IPv4-mapped form of 127.0.0.1",
        ),
        ("https://[::ffff:7f00:1]/p", "::ffff:7f00:1 is an IPv4-mapped form of 127.0.0.1"),
        ("https://[64:ff9b::7f00:1]/p", "64:ff9b::7f00:1 is a NAT64 form of 127.0.0.1, a loopback address"),
        (
            "https://[2002:a9fe:a9fe::]/p",
            "2002:a9fe:a9fe:: is a 6to4 form of 169.254.169.254, a cloud metadata address",
        ),
        ("https://[fd00:ec2::254]/", "fd00:ec2::254 is a cloud metadata address"),
        ("https://[FE80::1]/", "fe80::1 is a link-local address"),
        ("https://100.100.100.200/", "100.100.100.200 is a cloud metadata address"),
    ],
)
def test_it_refuses_a_literal_refused_address_in_any_spelling(url: str, message: str) -> None:
    with pytest.raises(GuardError) as error:
        check_url(url, CLOSED)

    assert (error.value.code, error.value.message) == ("address_refused", message)


@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        ("http://provider.example/p", "scheme_refused", "the URL must start with https://"),
        ("ftp://provider.example/p", "scheme_refused", "the URL must start with https://"),
        ("file:///etc/passwd", "scheme_refused", "the URL must start with https://"),
        ("provider.example/p", "scheme_refused", "the URL must start with https://"),
        (
            "https://user:pw@provider.example/p",
            "userinfo_refused",
            "the URL must not contain a user name or password",
        ),
        (
            "https://user@provider.example/p",
            "userinfo_refused",
            "the URL must not contain a user name or password",
        ),
        ("https:///p", "host_missing", "the URL has no host"),
        ("https://provider.example:0/p", "url_invalid", "the port must be a number from 1 to 65535"),
        ("https://provider.example:99999/p", "url_invalid", "the port must be a number from 1 to 65535"),
        ("https://provider.example:http/p", "url_invalid", "the port must be a number from 1 to 65535"),
        (
            "https://provider example/p",
            "url_invalid",
            "the URL must not contain spaces, control characters or backslashes",
        ),
        (
            "https://evil.example\\@provider.example/",
            "url_invalid",
            "the URL must not contain spaces, control characters or backslashes",
        ),
        (
            "https://provider.example/p\r\nHost: x",
            "url_invalid",
            "the URL must not contain spaces, control characters or backslashes",
        ),
        ("https://1.2.3.4.5/p", "url_invalid", "1.2.3.4.5 looks like an IPv4 address but is not a valid one"),
        ("https://08.0.0.1/p", "url_invalid", "08.0.0.1 looks like an IPv4 address but is not a valid one"),
        ("https://prov%69der.example/p", "url_invalid", "the host is not a valid name"),
        ("https://[not-an-ip]/p", "url_invalid", "the URL cannot be parsed"),
        ("https://" + "a" * 2040 + ".example/", "url_invalid", "the URL is longer than 2048 characters"),
    ],
)
def test_it_refuses_a_malformed_or_unsafe_url(url: str, code: str, message: str) -> None:
    with pytest.raises(GuardError) as error:
        check_url(url, CLOSED)

    assert (error.value.code, error.value.message) == (code, message)


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://Prov.Example/p?x=1", ParsedTarget("https", "prov.example", 443, None)),
        ("https://prov.example.:8443/p", ParsedTarget("https", "prov.example", 8443, None)),
        ("https://bücher.example/", ParsedTarget("https", "xn--bcher-kva.example", 443, None)),
        ("HTTPS://8.8.8.8/p", ParsedTarget("https", "8.8.8.8", 443, ip_address("8.8.8.8"))),
        (
            "https://[2606:4700:4700::1111]:444/",
            ParsedTarget("https", "2606:4700:4700::1111", 444, ip_address("2606:4700:4700::1111")),
        ),
    ],
)
def test_it_accepts_a_public_https_url(url: str, target: ParsedTarget) -> None:
    assert check_url(url, CLOSED) == target


def test_it_accepts_plain_http_and_an_allowed_address_when_the_operator_allows_them() -> None:
    policy = OutboundPolicy(allow_nets=(ip_network("127.0.0.0/8"),), allow_http=True)

    assert check_url("http://127.0.0.1:8001/provisioning", policy) == ParsedTarget(
        "http", "127.0.0.1", 8001, ip_address("127.0.0.1")
    )


def test_a_url_that_passed_is_checked_again_under_another_policy() -> None:
    url = "http://127.0.0.1:8001/provisioning"
    open_policy = OutboundPolicy(allow_nets=(ip_network("127.0.0.0/8"),), allow_http=True)
    assert check_url(url, open_policy).ip == ip_address("127.0.0.1")

    with pytest.raises(GuardError) as refused:
        check_url(url, OutboundPolicy(allow_nets=(ip_network("127.0.0.0/8"),)))
    assert refused.value.code == "scheme_refused"
    with pytest.raises(GuardError) as refused:
        check_url(url, OutboundPolicy(allow_http=True))
    assert refused.value.code == "address_refused"


def test_every_refusal_of_the_same_url_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="sessioncloud.security")

    for _ in range(3):
        with pytest.raises(GuardError):
            check_url("https://10.0.0.7/provisioning", CLOSED)

    refusals = [r for r in caplog.records if r.name == "sessioncloud.security"]
    assert [r.getMessage() for r in refusals] == ["outbound call refused: 10.0.0.7 is a private address"] * 3


# --- resolution -----------------------------------------------------------------------------


def fake_dns(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> list[str]:
    lookups: list[str] = []

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        lookups.append(host)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def test_it_refuses_localhost_before_connecting() -> None:
    with pytest.raises(GuardError) as error:
        resolve_checked("localhost", 443, CLOSED)

    assert error.value.code == "address_refused"
    assert error.value.message in (
        "localhost resolves to 127.0.0.1, a loopback address",
        "localhost resolves to ::1, a loopback address",
    )


@pytest.mark.parametrize(
    ("addresses", "message"),
    [
        (("10.0.0.5",), "internal.example resolves to 10.0.0.5, a private address"),
        (
            ("93.184.216.34", "169.254.169.254"),
            "internal.example resolves to 169.254.169.254, a cloud metadata address",
        ),
        (
            ("2606:4700::1", "::ffff:10.0.0.1"),
            "internal.example resolves to ::ffff:10.0.0.1, an IPv4-mapped form of 10.0.0.1",
        ),
        (
            ("64:ff9b::a00:5",),
            "internal.example resolves to 64:ff9b::a00:5, a NAT64 form of 10.0.0.5, a private address",
        ),
    ],
)
def test_it_refuses_a_name_if_any_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, addresses: tuple[str, ...], message: str
) -> None:
    fake_dns(monkeypatch, *addresses)

    with pytest.raises(GuardError) as error:
        resolve_checked("internal.example", 443, CLOSED)

    assert (error.value.code, error.value.message) == ("address_refused", message)


def test_it_returns_every_address_of_a_public_name_from_one_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    lookups = fake_dns(monkeypatch, "93.184.216.34", "2606:2800:220:1::1", "93.184.216.34")

    assert resolve_checked("provider.example", 443, CLOSED) == ["93.184.216.34", "2606:2800:220:1::1"]
    assert lookups == ["provider.example"]


def test_it_does_not_look_up_a_literal_address(monkeypatch: pytest.MonkeyPatch) -> None:
    lookups = fake_dns(monkeypatch, "10.0.0.1")

    assert resolve_checked("8.8.8.8", 443, CLOSED) == ["8.8.8.8"]
    assert lookups == []


def test_it_reports_a_name_that_does_not_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    def nxdomain(*args: Any, **kwargs: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", nxdomain)

    with pytest.raises(GuardError) as error:
        resolve_checked("new.example", 443, CLOSED)

    assert (error.value.code, error.value.message) == (
        "dns_failed",
        "new.example does not resolve (Name or service not known)",
    )


# --- save-time check ------------------------------------------------------------------------


def test_saving_a_public_name_gives_no_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, "93.184.216.34")

    assert check_url_for_save("https://prov.example/p", CLOSED) == []


def test_saving_a_literal_refused_address_is_an_error() -> None:
    with pytest.raises(GuardError, match="^10.0.0.1 is a private address$"):
        check_url_for_save("https://10.0.0.1/p", CLOSED)


def test_saving_a_name_that_resolves_to_a_refused_address_is_an_error_that_names_no_address(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake_dns(monkeypatch, "192.168.0.10")

    with pytest.raises(GuardError, match="^prov.example resolves to an address SessionCloud may not call$"):
        check_url_for_save("https://prov.example/p", CLOSED)
    assert [r.getMessage() for r in caplog.records if r.name == "sessioncloud.security"] == [
        "outbound call refused: prov.example resolves to 192.168.0.10, a private address"
    ]


def test_saving_a_name_that_does_not_resolve_yet_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    def nxdomain(*args: Any, **kwargs: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", nxdomain)

    assert check_url_for_save("https://soon.example/p", CLOSED) == [
        "soon.example does not resolve yet; SessionCloud checks it again on every call."
    ]


# --- security log ---------------------------------------------------------------------------


def test_each_refusal_is_logged_to_the_security_logger_without_the_query(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="sessioncloud.security")

    with pytest.raises(GuardError):
        check_url("https://127.0.0.1/p?username=1000&password=s3cret", CLOSED)

    [record] = caplog.records
    assert record.name == "sessioncloud.security"
    assert record.getMessage() == "outbound call refused: 127.0.0.1 is a loopback address"
    assert (record.event, record.code, record.host) == ("outbound_refused", "address_refused", "127.0.0.1")  # type: ignore[attr-defined]
    assert "s3cret" not in caplog.text


def test_a_name_that_does_not_resolve_is_not_a_security_event(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sessioncloud.security")

    def nxdomain(*args: Any, **kwargs: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", nxdomain)

    with pytest.raises(GuardError):
        resolve_checked("new.example", 443, CLOSED)

    assert caplog.records == []
