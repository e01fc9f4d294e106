"""The encoders write every format, and what they write parses back to the same value."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from sessioncloud.codes.formats import (
    CodeError,
    ParsedCode,
    accounts_from_json,
    encode,
    encode_desktop_local,
    encode_external,
    encode_local,
    encode_token,
    parse_code,
)
from sessioncloud.lib.sipaccount import SipAccount, XmppAccount

ALICE = SipAccount(
    sipusername="2006", sippassword="12345678", subdomain="pbx", transport="UDP", srtp="Enabled"
)
BOB = SipAccount(sipusername="2011", sippassword='p&ss+wörd|"x"')
CHAT = XmppAccount(jid="alice@chat.example", password="pw", domain="chat.example", port=5223)
TOKEN = "q1W2e3R4t5Y6u7I8o9P0-_"


def test_it_encodes_generic_local_accounts_as_compact_json_after_the_provider_id() -> None:
    assert encode_local([ALICE], provider_id="AcmeInc") == (
        'scloc:AcmeInc|{"sipaccounts":[{"sipusername":"2006","sippassword":"12345678",'
        '"transport":"UDP","subdomain":"pbx","srtp":"Enabled"}]}'
    )


def test_it_encodes_whitelabel_local_accounts_without_provider_id() -> None:
    assert encode_local([BOB]) == (
        'scloc:{"sipaccounts":[{"sipusername":"2011","sippassword":"p&ss+wörd|\\"x\\""}]}'
    )


def test_it_includes_xmpp_accounts_only_when_there_are_some() -> None:
    assert encode_local([], [CHAT]) == (
        'scloc:{"sipaccounts":[],"xmppaccounts":[{"jid":"alice@chat.example","password":"pw",'
        '"domain":"chat.example","port":5223}]}'
    )


def test_it_encodes_a_desktop_link_with_the_raw_json_array_in_quotes() -> None:
    assert encode_desktop_local("AcmeInc", [ALICE, BOB]) == (
        'scloc:?providerId=AcmeInc&sipaccounts="[{"sipusername":"2006","sippassword":"12345678",'
        '"transport":"UDP","subdomain":"pbx","srtp":"Enabled"},{"sipusername":"2011",'
        '"sippassword":"p&ss+wörd|\\"x\\""}]"'
    )


def test_it_encodes_generic_and_whitelabel_external_codes() -> None:
    assert encode_external("1000", "1234", "AcmeInc") == "scsc:1000:1234:AcmeInc"
    assert encode_external("1000", "1234") == "scsc:1000:1234"


def test_it_encodes_a_setup_token_link() -> None:
    assert encode_token(TOKEN) == f"scloc:?v=2&token={TOKEN}"


@pytest.mark.parametrize(
    ("username", "password", "provider_id", "message"),
    [
        (
            "10:00",
            "1234",
            "AcmeInc",
            "the username holds ':', which an scsc: code cannot carry; use a setup token instead",
        ),
        (
            "1000",
            "12:34",
            None,
            "the password holds ':', which an scsc: code cannot carry; use a setup token instead",
        ),
        ("", "1234", None, "the username is empty"),
        ("1000", "", None, "the password is empty"),
        (
            "1000",
            "1234 ",
            None,
            "the password begins or ends with whitespace, which an scsc: "
            "code cannot carry reliably; use a setup token instead",
        ),
        ("1000", "12\n34", None, "the password holds a control character"),
        (
            "1000",
            "1234",
            "Acme Inc",
            "the ProviderId 'Acme Inc' is not valid: it must be 3 to 32 "
            "ASCII letters and digits, starting with a letter",
        ),
        (
            "1000",
            "1234",
            "",
            "the ProviderId is not valid: it must be 3 to 32 ASCII letters and "
            "digits, starting with a letter",
        ),
    ],
)
def test_it_refuses_external_credentials_the_format_cannot_carry(
    username: str, password: str, provider_id: str | None, message: str
) -> None:
    with pytest.raises(CodeError) as caught:
        encode_external(username, password, provider_id)

    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: encode_local([ALICE], provider_id="1st"),
            "the ProviderId '1st' is not valid: it "
            "must be 3 to 32 ASCII letters and digits, starting with a letter",
        ),
        (lambda: encode_local([]), "the code carries no accounts"),
        (
            lambda: encode_local([ALICE] * 21),
            "the accounts are not valid: sipaccounts: List should "
            "have at most 20 items after validation, not 21",
        ),
        (
            lambda: encode_local([ALICE.model_copy(update={"displayname": "x" * 250})] * 20),
            "the code is longer than 4096 bytes (UTF-8)",
        ),
        (lambda: encode_desktop_local("AcmeInc", []), "the code carries no accounts"),
        (
            lambda: encode_token("not a token!"),
            "the setup token is not valid: it must be 16 to 128 characters of A-Z, a-z, 0-9, '-' and '_'",
        ),
    ],
)
def test_it_refuses_to_encode_what_no_phone_could_read(call: Callable[[], object], message: str) -> None:
    with pytest.raises(CodeError) as caught:
        call()

    assert str(caught.value) == message


def test_it_round_trips_every_format_through_the_encoder(any_code: str) -> None:
    parsed = parse_code(any_code)
    if parsed.format == "scsc-desktop":  # parse-only: encoded as scsc (see the next tests)
        parsed = replace(parsed, format="scsc")

    assert parse_code(encode(parsed)) == parsed


def test_it_encodes_the_published_examples_to_text_of_the_same_format(published_code: str) -> None:
    parsed = parse_code(published_code)

    assert parse_code(encode(parsed)) == parsed


def test_it_encodes_a_desktop_activation_link_as_the_equivalent_scsc_code() -> None:
    parsed = parse_code("scsc:?username=1000:AcmeInc&password=a%26b")

    assert encode(parsed) == "scsc:1000:a&b:AcmeInc"
    assert parse_code(encode(parsed)) == ParsedCode(
        kind="external", format="scsc", provider_id="AcmeInc", username="1000", password="a&b"
    )


def test_it_refuses_to_encode_a_password_the_lenient_parser_accepted_with_colons() -> None:
    parsed = parse_code("scsc:1000:12:34:AcmeInc")

    with pytest.raises(CodeError, match="^the password holds ':'"):
        encode(parsed)


def test_it_refuses_to_encode_xmpp_accounts_as_a_desktop_link() -> None:
    parsed = ParsedCode(
        kind="local",
        format="scloc-desktop",
        provider_id="AcmeInc",
        sipaccounts=(ALICE,),
        xmppaccounts=(CHAT,),
    )

    with pytest.raises(CodeError) as caught:
        encode(parsed)

    assert str(caught.value) == ("the desktop link cannot carry xmppaccounts; use the scloc format")


def test_it_reads_accounts_typed_as_an_object_or_a_bare_array() -> None:
    assert accounts_from_json(
        '{"sipaccounts":[{"sipusername":"1","sippassword":"2"}],'
        '"xmppaccounts":[{"jid":"a@b","password":"x","domain":"b"}]}'
    ) == (
        [SipAccount(sipusername="1", sippassword="2")],
        [XmppAccount(jid="a@b", password="x", domain="b")],
    )
    assert accounts_from_json('[{"sipusername":"1","sippassword":"2"}]') == (
        [SipAccount(sipusername="1", sippassword="2")],
        [],
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"x"', "the accounts are not valid: value: expected a JSON object, got a string"),
        (
            "[{",
            "the account JSON is not valid: Expecting property name enclosed in double quotes at character 3",
        ),
        ("[" * 50, "the account JSON nests deeper than 20 levels"),
    ],
)
def test_it_refuses_typed_accounts_that_are_not_valid(text: str, message: str) -> None:
    with pytest.raises(CodeError) as caught:
        accounts_from_json(text)

    assert str(caught.value) == message
