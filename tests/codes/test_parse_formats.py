"""parse_code reads every compatible format and the setup link (docs/codes.md)."""

from __future__ import annotations

import pytest

from sessioncloud.codes.formats import (
    ParsedCode,
    is_valid_provider_id,
    is_valid_token,
    parse_code,
)
from sessioncloud.lib.sipaccount import SipAccount, XmppAccount

PUBLISHED_LOCAL_GENERIC = (
    'scloc:providerId| { "sipaccounts" : [ { "sipusername" : "user1" , "sippassword": '
    '"29de?8", "subdomain" : "pbx"} ] }'
)
PUBLISHED_LOCAL_WHITELABEL = (
    'scloc: { "sipaccounts" : [ { "sipusername" : "user1" , "sippassword": "29de?8", '
    '"subdomain":"pbx" , "authusername": "629456", "transport" : "UDP", "srtp" : "Enabled" , '
    '"messaging" : "Enabled", "video" : "Enabled" , "callrecording" : "Enabled" } ] }'
)
PUBLISHED_DESKTOP = (
    'scloc:?providerId=ABCTechnology&sipaccounts="[{"sipusername":"2006","sippassword":'
    '"12345678","subdomain":"sip.sessiontalk.co.uk","transport":"UDP"}, {"sipusername":"2011",'
    '"sippassword":"12345678","subdomain":"sip.sessiontalk.co.uk"}]"'
)
PUBLISHED_EXTERNAL = "scsc:username:password:providerId"
TOKEN = "Zm9vYmFyYmF6cXV4LXF1dXg_"


def test_it_parses_the_published_generic_local_code() -> None:
    assert parse_code(PUBLISHED_LOCAL_GENERIC).to_json() == {
        "kind": "local",
        "format": "scloc",
        "providerId": "providerId",
        "sipaccounts": [{"sipusername": "user1", "sippassword": "29de?8", "subdomain": "pbx"}],
        "xmppaccounts": [],
        "username": None,
        "password": None,
        "token": None,
    }


def test_it_parses_the_published_whitelabel_local_code() -> None:
    assert parse_code(PUBLISHED_LOCAL_WHITELABEL).to_json() == {
        "kind": "local",
        "format": "scloc",
        "providerId": None,
        "sipaccounts": [
            {
                "sipusername": "user1",
                "sippassword": "29de?8",
                "subdomain": "pbx",
                "authusername": "629456",
                "transport": "UDP",
                "srtp": "Enabled",
                "messaging": "Enabled",
                "video": "Enabled",
                "callrecording": "Enabled",
            }
        ],
        "xmppaccounts": [],
        "username": None,
        "password": None,
        "token": None,
    }


def test_it_parses_the_published_desktop_link() -> None:
    assert parse_code(PUBLISHED_DESKTOP).to_json() == {
        "kind": "local",
        "format": "scloc-desktop",
        "providerId": "ABCTechnology",
        "sipaccounts": [
            {
                "sipusername": "2006",
                "sippassword": "12345678",
                "subdomain": "sip.sessiontalk.co.uk",
                "transport": "UDP",
            },
            {"sipusername": "2011", "sippassword": "12345678", "subdomain": "sip.sessiontalk.co.uk"},
        ],
        "xmppaccounts": [],
        "username": None,
        "password": None,
        "token": None,
    }


def test_it_parses_the_published_external_code() -> None:
    assert parse_code(PUBLISHED_EXTERNAL).to_json() == {
        "kind": "external",
        "format": "scsc",
        "providerId": "providerId",
        "sipaccounts": [],
        "xmppaccounts": [],
        "username": "username",
        "password": "password",
        "token": None,
    }


def test_it_parses_a_whitelabel_external_code_without_provider_id() -> None:
    assert parse_code("scsc:1000:1234") == ParsedCode(
        kind="external", format="scsc", username="1000", password="1234"
    )


def test_it_splits_the_provider_id_off_the_right_end_and_the_username_off_the_left() -> None:
    parsed = parse_code("scsc:1000:pa:ss:w:AcmeInc")

    assert (parsed.username, parsed.password, parsed.provider_id) == ("1000", "pa:ss:w", "AcmeInc")


def test_it_parses_a_setup_token_link() -> None:
    assert parse_code(f"scloc:?v=2&token={TOKEN}").to_json() == {
        "kind": "token",
        "format": "scloc-token",
        "providerId": None,
        "sipaccounts": [],
        "xmppaccounts": [],
        "username": None,
        "password": None,
        "token": TOKEN,
    }


def test_it_ignores_unknown_parameters_of_a_setup_link() -> None:
    assert parse_code(f"scloc:?v=2&token={TOKEN}&utm_source=mail").token == TOKEN


def test_it_parses_a_desktop_activation_link_with_provider_id() -> None:
    parsed = parse_code("scsc:?username=1000:AcmeInc&password=12%2634")

    assert parsed == ParsedCode(
        kind="external", format="scsc-desktop", provider_id="AcmeInc", username="1000", password="12&34"
    )


def test_it_parses_a_desktop_activation_link_whose_password_separator_is_percent_26() -> None:
    parsed = parse_code("scsc:?username=1000@pbx.example.com:AcmeInc%26password=a1B2c3")

    assert parsed == ParsedCode(
        kind="external",
        format="scsc-desktop",
        provider_id="AcmeInc",
        username="1000@pbx.example.com",
        password="a1B2c3",
    )


def test_it_splits_a_percent_26_desktop_link_at_its_first_password_marker() -> None:
    parsed = parse_code("scsc:?username=1000:AcmeInc%26password=x%26password=y")

    assert (parsed.username, parsed.password) == ("1000", "x&password=y")


@pytest.mark.parametrize(
    "text",
    [
        "scsc:?username=1000:%26password=1234",
        "scsc:?username=1000:&password=1234",
    ],
)
def test_an_empty_provider_id_in_a_desktop_activation_link_means_none(text: str) -> None:
    assert parse_code(text) == ParsedCode(
        kind="external", format="scsc-desktop", username="1000", password="1234"
    )


def test_an_empty_provider_id_after_the_last_colon_means_none() -> None:
    assert parse_code("scsc:1000:1234:") == ParsedCode(
        kind="external", format="scsc", username="1000", password="1234"
    )


def test_an_empty_provider_id_leaves_the_colons_before_it_to_the_password() -> None:
    parsed = parse_code("scsc:1000:12:34:")

    assert (parsed.username, parsed.password, parsed.provider_id) == ("1000", "12:34", None)


def test_it_keeps_a_raw_ampersand_in_the_desktop_activation_password() -> None:
    parsed = parse_code("scsc:?username=1000&password=a&b=c")

    assert (parsed.username, parsed.password, parsed.provider_id) == ("1000", "a&b=c", None)


def test_it_keeps_other_percent_escapes_of_a_desktop_activation_literal() -> None:
    assert parse_code("scsc:?username=1000&password=50%25off").password == "50%25off"


def test_it_takes_everything_after_sipaccounts_as_the_raw_json_array() -> None:
    parsed = parse_code(
        'scloc:?providerId=AcmeInc&sipaccounts="[{"sipusername":"a&b","sippassword":"x+y&z=1"}]"'
    )

    assert [account.as_dict() for account in parsed.sipaccounts] == [
        {"sipusername": "a&b", "sippassword": "x+y&z=1"}
    ]


def test_it_accepts_a_desktop_link_whose_json_array_is_not_quoted() -> None:
    parsed = parse_code('scloc:?providerId=AcmeInc&sipaccounts=[{"sipusername":"1","sippassword":"2"}]')

    assert parsed.sipaccounts == (SipAccount(sipusername="1", sippassword="2"),)


def test_it_parses_xmpp_accounts_as_carried_and_knows_their_defaults() -> None:
    parsed = parse_code(
        'scloc:AcmeInc|{"sipaccounts":[],"xmppaccounts":[{"jid":"bob@chat",'
        '"password":"pw","domain":"chat","usetls":true}]}'
    )

    assert parsed.to_json()["xmppaccounts"] == [
        {"jid": "bob@chat", "password": "pw", "domain": "chat", "usetls": True}
    ]
    assert parsed.xmppaccounts[0].for_phone()["port"] == 5222
    assert parsed.xmppaccounts == (XmppAccount(jid="bob@chat", password="pw", domain="chat", usetls=True),)


def test_it_normalises_transport_and_flags_as_the_account_schema_does() -> None:
    parsed = parse_code(
        'scloc:{"sipaccounts":[{"sipusername":"1","sippassword":"2",'
        '"transport":"tls","srtp":true,"video":"disabled"}]}'
    )

    assert parsed.sipaccounts[0].as_dict() == {
        "sipusername": "1",
        "sippassword": "2",
        "transport": "TLS",
        "srtp": "Enabled",
        "video": "Disabled",
    }


def test_it_ignores_unknown_account_keys() -> None:
    parsed = parse_code('scloc:{"sipaccounts":[{"sipusername":"1","sippassword":"2","x":[1]}]}')

    assert parsed.sipaccounts[0].as_dict() == {"sipusername": "1", "sippassword": "2"}


@pytest.mark.parametrize(
    "text",
    [
        'SCLOC:AcmeInc|{"sipaccounts":[{"sipusername":"1","sippassword":"2"}]}',
        '  scloc:  AcmeInc |\n {"sipaccounts":[{"sipusername":"1","sippassword":"2"}]}\n ',
        'scloc:AcmeInc|{\n\t"sipaccounts": [\n\t\t{"sipusername": "1", "sippassword": "2"}\n\t]\n}',
    ],
)
def test_it_allows_whitespace_and_any_case_around_a_local_code(text: str) -> None:
    assert parse_code(text) == ParsedCode(
        kind="local",
        format="scloc",
        provider_id="AcmeInc",
        sipaccounts=(SipAccount(sipusername="1", sippassword="2"),),
    )


def test_it_keeps_the_provider_id_in_the_case_it_was_written() -> None:
    assert parse_code("scsc:a:b:aCmEiNc").provider_id == "aCmEiNc"


def test_it_ignores_a_trailing_newline_of_a_pasted_code() -> None:
    assert parse_code("scsc:1000:1234:AcmeInc\r\n").provider_id == "AcmeInc"


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("abc", True),
        ("A" + "b1" * 15 + "c", True),
        ("ab", False),
        ("a" * 33, False),
        ("1abc", False),
        ("ab_c", False),
        ("abç", False),
        ("abc\n", False),
        ("", False),
        ("ab١", False),
        (None, False),
    ],
)
def test_it_knows_a_valid_provider_id(value: object, valid: bool) -> None:
    assert is_valid_provider_id(value) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("a" * 16, True),
        ("A-_z09" * 21 + "ab", True),
        ("a" * 15, False),
        ("a" * 129, False),
        ("a" * 15 + "=", False),
        ("a" * 15 + "+", False),
        ("a" * 16 + "\n", False),
    ],
)
def test_it_knows_a_valid_token(value: str, valid: bool) -> None:
    assert is_valid_token(value) is valid
