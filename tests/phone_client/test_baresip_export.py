"""Accounts written as baresip `accounts` lines, and hostile values that must not break out."""

from __future__ import annotations

import pytest

from sessioncloud.phone.accounts import BaresipError, baresip_file, baresip_line, baresip_modules


def account(**values: object) -> dict[str, object]:
    merged: dict[str, object] = {
        "sipusername": "2001",
        "sippassword": "secret",
        "authusername": "2001",
        "displayname": "2001",
        "domain": "sip.example.com",
        "port": 5061,
        "proxy": "proxy.example.com",
        "transport": "TLS",
        "srtp": "Enabled",
        "messaging": "Enabled",
        "video": "Disabled",
        "callrecording": "Disabled",
        "subdomain": None,
        "voicemailNumber": None,
        "registrationExpires": 600,
    }
    merged.update(values)
    return merged


def test_it_writes_a_complete_account_as_one_line():
    assert baresip_line(account()) == (
        '"2001" <sip:2001@sip.example.com;transport=tls>;auth_user=2001;auth_pass=secret;'
        'outbound="sip:proxy.example.com;transport=tls;lr";regint=600;mediaenc=srtp'
    )


def test_it_writes_a_port_that_is_not_the_transports_default():
    line = baresip_line(
        account(
            transport="UDP",
            port=5080,
            proxy="10.0.0.5:5070",
            srtp="Disabled",
            displayname="Front Desk",
            registrationExpires=120,
        )
    )

    assert line == (
        '"Front Desk" <sip:2001@sip.example.com:5080;transport=udp>;auth_user=2001;'
        'auth_pass=secret;outbound="sip:10.0.0.5:5070;transport=udp;lr";regint=120'
    )


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


@pytest.mark.parametrize(
    "password", ["pw;mediaenc=zrtp", 'pw"', "pw\\", "pw\nx", "pw\rx", "pw\x00", "pw\x85"]
)
def test_it_refuses_a_password_that_would_inject_parameters_or_lines(password):
    with pytest.raises(BaresipError) as caught:
        baresip_line(account(sippassword=password), 3)

    assert str(caught.value) == (
        "account 3: the password holds a character that a baresip "
        'accounts line cannot carry (; " \\ or a control character)'
    )


def test_it_names_the_offending_character_of_an_auth_user():
    with pytest.raises(BaresipError) as caught:
        baresip_line(account(authusername="2001;regint=1"))

    assert str(caught.value) == (
        "account 1: the auth user holds ';' that a baresip accounts "
        'line cannot carry (; " \\ or a control character)'
    )


@pytest.mark.parametrize("name", ['Evil" <sip:x@y>;auth_pass=z', "Line\nbreak", "back\\slash"])
def test_it_refuses_a_display_name_that_cannot_be_quoted(name):
    with pytest.raises(BaresipError) as caught:
        baresip_line(account(displayname=name))

    assert str(caught.value) == (
        "account 1: the display name holds '\"', '\\' or a control "
        "character, which a baresip accounts line cannot carry"
    )


@pytest.mark.parametrize(
    "domain",
    [
        "sip.example.com>;auth_pass=x",
        "sip example.com",
        "sip.example.com\n<sip:x@y>",
        "",
        "[not-ipv6]",
        "a..b",
    ],
)
def test_it_refuses_a_domain_that_is_not_a_host(domain):
    with pytest.raises(BaresipError) as caught:
        baresip_line(account(domain=domain))

    assert str(caught.value) == (f"account 1: the domain {domain!r} is not a host name or IP address")


@pytest.mark.parametrize("proxy", ["proxy.example.com;lr", 'proxy"', "proxy:port", "proxy:99999"])
def test_it_refuses_a_proxy_that_is_not_host_and_port(proxy):
    with pytest.raises(BaresipError) as caught:
        baresip_line(account(proxy=proxy))

    assert str(caught.value).startswith("account 1: the proxy ")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("port", 0, "account 1: the port 0 is not a number from 1 to 65535"),
        ("port", "5060", "account 1: the port '5060' is not a number from 1 to 65535"),
        ("transport", "SCTP", "account 1: unknown transport 'SCTP'"),
        ("registrationExpires", True, "account 1: regint True is not a number from 1 to 2147483647"),
    ],
)
def test_it_refuses_wrong_numbers_and_transports(field, value, message):
    with pytest.raises(BaresipError) as caught:
        baresip_line(account(**{field: value}))

    assert str(caught.value) == message


def plain(**values: object) -> dict[str, object]:
    """An account without proxy and SRTP, so only the parameters under test follow regint."""
    return account(proxy=None, srtp="Disabled", **values)


BASE = '"2001" <sip:2001@sip.example.com;transport=tls>;auth_user=2001;auth_pass=secret;regint=600'


def test_optional_srtp_is_mediaenc_srtp_and_mandatory_is_srtp_mand():
    assert baresip_line(account(proxy=None, srtpMode="optional")) == BASE + ";mediaenc=srtp"
    assert baresip_line(account(proxy=None, srtpMode="mandatory")) == BASE + ";mediaenc=srtp-mand"


def test_the_srtp_mode_means_nothing_while_srtp_is_disabled():
    assert baresip_line(plain(srtpMode="mandatory")) == BASE


def test_a_stun_server_alone_is_medianat_stun():
    assert baresip_line(plain(stunServer="stun.example.com:3478")) == (
        BASE + ";medianat=stun;stunserver=stun:stun.example.com:3478"
    )


def test_ice_uses_the_stun_server():
    assert baresip_line(plain(stunServer="stun.example.com", ice=True)) == (
        BASE + ";medianat=ice;stunserver=stun:stun.example.com"
    )


def test_ice_without_any_server_gathers_local_candidates_only():
    assert baresip_line(plain(ice=True)) == BASE + ";medianat=ice"


def test_a_turn_server_with_credentials_is_medianat_turn():
    line = baresip_line(
        plain(
            stunServer="stun.example.com",
            turnServer="turn.example.com:3478",
            turnUsername="relay",
            turnPassword="t-pw",
        )
    )

    assert line == (
        BASE + ";medianat=turn;stunserver=turn:turn.example.com:3478;stunuser=relay;stunpass=t-pw"
    )


def test_ice_prefers_the_turn_server_which_also_finds_the_public_address():
    line = baresip_line(
        plain(
            stunServer="stun.example.com",
            turnServer="turn.example.com",
            turnUsername="relay",
            turnPassword="t-pw",
            ice=True,
        )
    )

    assert line == BASE + ";medianat=ice;stunserver=turn:turn.example.com;stunuser=relay;stunpass=t-pw"


def test_the_turn_password_is_masked_when_asked():
    line = baresip_line(
        plain(turnServer="turn.example.com", turnUsername="relay", turnPassword="t-pw"), mask=True
    )

    assert line.endswith(";stunuser=relay;stunpass=********")


def test_a_turn_server_without_credentials_is_not_used_and_the_file_says_so():
    text = baresip_file([plain(stunServer="stun.example.com", turnServer="turn.example.com")])

    assert text == (
        "# SIP accounts written by `sessioncloud phone`; one account per line.\n"
        "# baresip must load these modules (module lines in its config): stun.so\n"
        "# account 1: the TURN server came without credentials (only provisioned accounts carry "
        "them), so it is not used\n" + BASE + ";medianat=stun;stunserver=stun:stun.example.com\n"
    )


def test_a_turn_password_that_would_inject_parameters_is_refused_without_echo():
    with pytest.raises(BaresipError) as caught:
        baresip_line(
            plain(turnServer="turn.example.com", turnUsername="relay", turnPassword="x;mediaenc=zrtp")
        )

    assert str(caught.value) == (
        "account 1: the TURN password holds a character that a baresip "
        'accounts line cannot carry (; " \\ or a control character)'
    )


def test_a_stun_server_that_is_not_a_host_is_refused():
    with pytest.raises(BaresipError) as caught:
        baresip_line(plain(stunServer="stun.example.com;medianat=turn"))

    assert str(caught.value) == (
        "account 1: the STUN server 'stun.example.com;medianat=turn' is not a host name or IP address"
    )


def test_codecs_are_written_in_order_with_the_names_baresip_looks_up():
    line = baresip_line(plain(audioCodecs=["G722", "opus", "PCMU", "PCMA"], videoCodecs=["VP8", "H264"]))

    assert line == BASE + ";audio_codecs=G722/16000,opus/48000/2,PCMU,PCMA;video_codecs=VP8,H264"


def test_codecs_baresip_has_no_module_for_are_left_out_and_the_file_says_so():
    text = baresip_file([plain(audioCodecs=["G729", "PCMA", "speex"])])

    assert text == (
        "# SIP accounts written by `sessioncloud phone`; one account per line.\n"
        "# baresip must load these modules (module lines in its config): g711.so\n"
        "# account 1: baresip has no module for 'G729', 'speex'; left out of the codec list\n"
        + BASE
        + ";audio_codecs=PCMA\n"
    )


def test_sip_info_dtmf_is_written_and_the_file_says_which_baresip_reads_it():
    text = baresip_file([plain(dtmfMode="info")])

    assert text == (
        "# SIP accounts written by `sessioncloud phone`; one account per line.\n"
        "# account 1: dtmfmode=info needs baresip 1.1.0 or later; 1.0.0 sends RFC 2833 events\n"
        + BASE
        + ";dtmfmode=info\n"
    )


def test_inband_dtmf_cannot_be_written_and_the_file_says_so():
    text = baresip_file([plain(dtmfMode="inband")])

    assert text == (
        "# SIP accounts written by `sessioncloud phone`; one account per line.\n"
        "# account 1: baresip cannot send DTMF in-band; it sends RFC 2833 events\n" + BASE + "\n"
    )


def test_rfc2833_dtmf_keep_alives_and_the_realm_add_nothing():
    assert baresip_line(plain(dtmfMode="rfc2833", keepAliveSeconds=15, realm="acme")) == BASE


def test_the_modules_are_every_one_the_accounts_need_once():
    accounts = [
        account(ice=True, audioCodecs=["opus", "PCMU"]),
        plain(stunServer="stun.example.com", audioCodecs=["PCMA"], videoCodecs=["H264", "VP9"]),
        plain(turnServer="turn.example.com", turnUsername="relay", turnPassword="t-pw"),
    ]

    assert baresip_modules(accounts) == [
        "avcodec.so",
        "g711.so",
        "ice.so",
        "opus.so",
        "srtp.so",
        "stun.so",
        "turn.so",
        "vp9.so",
    ]


def test_an_account_without_anything_needing_a_module_needs_none():
    assert baresip_modules([plain()]) == []


def test_a_codec_list_of_the_wrong_type_is_refused():
    with pytest.raises(BaresipError) as caught:
        baresip_line(plain(audioCodecs="opus"))

    assert str(caught.value) == "the audioCodecs 'opus' are not a list of codec names"


def test_a_file_has_a_header_and_one_line_per_account():
    text = baresip_file(
        [
            account(),
            account(sipusername="2002", authusername="2002", displayname="2002", proxy=None, srtp="Disabled"),
        ]
    )

    assert text == (
        "# SIP accounts written by `sessioncloud phone`; one account per line.\n"
        "# baresip must load these modules (module lines in its config): srtp.so\n"
        '"2001" <sip:2001@sip.example.com;transport=tls>;auth_user=2001;auth_pass=secret;'
        'outbound="sip:proxy.example.com;transport=tls;lr";regint=600;mediaenc=srtp\n'
        '"2002" <sip:2002@sip.example.com;transport=tls>;auth_user=2002;auth_pass=secret;'
        "regint=600\n"
    )


def test_a_file_is_refused_whole_when_one_account_cannot_be_written():
    with pytest.raises(BaresipError) as caught:
        baresip_file([account(), account(sippassword="x;y")])

    assert str(caught.value).startswith("account 2: the password holds a character")
