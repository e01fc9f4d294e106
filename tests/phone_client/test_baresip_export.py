"""Accounts written as baresip `accounts` lines, and hostile values that must not break out."""

from __future__ import annotations

import pytest

from sessioncloud.phone.accounts import BaresipError, baresip_file, baresip_line


def account(**values: object) -> dict[str, object]:
    merged: dict[str, object] = {
        "sipusername": "2001", "sippassword": "secret", "authusername": "2001",
        "displayname": "2001", "domain": "sip.example.com", "port": 5061,
        "proxy": "proxy.example.com", "transport": "TLS", "srtp": "Enabled",
        "messaging": "Enabled", "video": "Disabled", "callrecording": "Disabled",
        "subdomain": None, "voicemailNumber": None, "registrationExpires": 600,
    }
    merged.update(values)
    return merged


def test_it_writes_a_complete_account_as_one_line():
    assert baresip_line(account()) == (
        '"2001" <sip:2001@sip.example.com;transport=tls>;auth_user=2001;auth_pass=secret;'
        'outbound="sip:proxy.example.com;transport=tls;lr";regint=600;mediaenc=srtp')


def test_it_writes_a_port_that_is_not_the_transports_default():
    line = baresip_line(account(transport="UDP", port=5080, proxy="10.0.0.5:5070",
                                srtp="Disabled", displayname="Front Desk",
                                registrationExpires=120))

    assert line == ('"Front Desk" <sip:2001@sip.example.com:5080;transport=udp>;auth_user=2001;'
                    'auth_pass=secret;outbound="sip:10.0.0.5:5070;transport=udp;lr";regint=120')


def test_it_leaves_out_what_the_account_does_not_have():
    line = baresip_line(account(sippassword="", proxy=None, srtp="Disabled", displayname=""))

    assert line == "<sip:2001@sip.example.com;transport=tls>;auth_user=2001;regint=600"


def test_it_writes_ipv6_hosts_in_brackets():
    line = baresip_line(account(domain="[2001:DB8:0::1]", port=5070, proxy="[2001:db8::2]"))

    assert line.startswith('"2001" <sip:2001@[2001:db8::1]:5070;transport=tls>;')
    assert 'outbound="sip:[2001:db8::2];transport=tls;lr"' in line


def test_it_masks_the_password_when_asked():
    assert ";auth_pass=********;" in baresip_line(account(), mask=True)


def test_it_quotes_values_holding_blanks_or_angle_brackets():
    line = baresip_line(account(sippassword="two words", authusername="a<b>"))

    assert ';auth_user="a<b>";auth_pass="two words";' in line


def test_it_percent_encodes_the_uri_user_so_nothing_closes_the_uri():
    line = baresip_line(account(sipusername='+49 30>;auth_pass=x"é'))

    assert line.startswith('"2001" <sip:+49%2030%3E%3Bauth_pass%3Dx%22%C3%A9@sip.example.com;')
    assert line.count(">") == 1


@pytest.mark.parametrize("password", ["pw;mediaenc=zrtp", 'pw"', "pw\\", "pw\nx", "pw\rx",
                                      "pw\x00", "pw\x85"])
def test_it_refuses_a_password_that_would_inject_parameters_or_lines(password):
    with pytest.raises(BaresipError) as caught:
        baresip_line(account(sippassword=password), 3)

    assert str(caught.value) == ("account 3: the password holds a character that a baresip "
                                 "accounts line cannot carry (; \" \\ or a control character)")


def test_it_names_the_offending_character_of_an_auth_user():
    with pytest.raises(BaresipError) as caught:
        baresip_line(account(authusername="2001;regint=1"))

    assert str(caught.value) == ("account 1: the auth user holds ';' that a baresip accounts "
                                 "line cannot carry (; \" \\ or a control character)")


@pytest.mark.parametrize("name", ['Evil" <sip:x@y>;auth_pass=z', "Line\nbreak", "back\\slash"])
def test_it_refuses_a_display_name_that_cannot_be_quoted(name):
    with pytest.raises(BaresipError) as caught:
        baresip_line(account(displayname=name))

    assert str(caught.value) == ("account 1: the display name holds '\"', '\\' or a control "
                                 "character, which a baresip accounts line cannot carry")


@pytest.mark.parametrize("domain", ["sip.example.com>;auth_pass=x", "sip example.com",
                                    "sip.example.com\n<sip:x@y>", "", "[not-ipv6]", "a..b"])
def test_it_refuses_a_domain_that_is_not_a_host(domain):
    with pytest.raises(BaresipError) as caught:
        baresip_line(account(domain=domain))

    assert str(caught.value) == (f"account 1: the domain {domain!r} is not a host name or "
                                 "IP address")


@pytest.mark.parametrize("proxy", ["proxy.example.com;lr", 'proxy"', "proxy:port", "proxy:99999"])
def test_it_refuses_a_proxy_that_is_not_host_and_port(proxy):
    with pytest.raises(BaresipError) as caught:
        baresip_line(account(proxy=proxy))

    assert str(caught.value).startswith("account 1: the proxy ")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("port", 0, "account 1: the port 0 is not a number from 1 to 65535"),
    ("port", "5060", "account 1: the port '5060' is not a number from 1 to 65535"),
    ("transport", "SCTP", "account 1: unknown transport 'SCTP'"),
    ("registrationExpires", True, "account 1: regint True is not a number from 1 to 2147483647"),
])
def test_it_refuses_wrong_numbers_and_transports(field, value, message):
    with pytest.raises(BaresipError) as caught:
        baresip_line(account(**{field: value}))

    assert str(caught.value) == message


def test_a_file_has_a_header_and_one_line_per_account():
    text = baresip_file([account(), account(sipusername="2002", authusername="2002",
                                            displayname="2002", proxy=None, srtp="Disabled")])

    assert text == (
        "# SIP accounts written by `sessioncloud phone`; one account per line.\n"
        '"2001" <sip:2001@sip.example.com;transport=tls>;auth_user=2001;auth_pass=secret;'
        'outbound="sip:proxy.example.com;transport=tls;lr";regint=600;mediaenc=srtp\n'
        '"2002" <sip:2002@sip.example.com;transport=tls>;auth_user=2002;auth_pass=secret;'
        "regint=600\n"
    )


def test_a_file_is_refused_whole_when_one_account_cannot_be_written():
    with pytest.raises(BaresipError) as caught:
        baresip_file([account(), account(sippassword="x;y")])

    assert str(caught.value).startswith("account 2: the password holds a character")
