"""parse_provider_answer validates strictly and gives exact reasons (docs/provider-service.md)."""

from __future__ import annotations

import json

import pytest

from sessioncloud.lib.sipaccount import SipAccount, XmppAccount
from sessioncloud.provisioning.answer import BadAnswer, ProviderAnswer, parse_provider_answer

ACCOUNT = {"sipusername": "1000", "sippassword": "pw"}


def reasons_for(body: bytes) -> list[str]:
    with pytest.raises(BadAnswer) as error:
        parse_provider_answer(body)
    return error.value.reasons


def test_it_parses_a_complete_answer() -> None:
    body = json.dumps(
        {
            "update": True,
            "errmsg": "",
            "sipaccounts": [{**ACCOUNT, "transport": "tcp", "video": "ENABLED", "extra": [1, 2]}],
            "xmppaccounts": [{"jid": "a@b.example", "password": "x", "domain": "b.example"}],
        }
    ).encode()

    assert parse_provider_answer(body) == ProviderAnswer(
        update=True,
        errmsg="",
        sipaccounts=[SipAccount(sipusername="1000", sippassword="pw", transport="TCP", video="Enabled")],
        xmppaccounts=[XmppAccount(jid="a@b.example", password="x", domain="b.example")],
    )


@pytest.mark.parametrize(
    ("sent", "update"), [("true", True), ("false", False), ("TRUE", True), (False, False)]
)
def test_it_reads_update_from_a_boolean_or_a_string(sent: object, update: bool) -> None:
    answer = parse_provider_answer(json.dumps({"update": sent, "sipaccounts": []}).encode())

    assert answer.update is update


def test_it_treats_a_null_errmsg_as_empty() -> None:
    assert parse_provider_answer(b'{"update": true, "sipaccounts": [], "errmsg": null}').errmsg == ""


@pytest.mark.parametrize(
    ("body", "errmsg"),
    [
        (b'{"update":true,"errmsg":"Invalid Device"}', "Invalid Device"),
        (b'{"update":true,"errmsg":"Max Devices Exceeded"}', "Max Devices Exceeded"),
        (b'{"update":true,"errmsg":"Expired Key"}', "Expired Key"),
    ],
)
def test_an_answer_without_sipaccounts_means_no_accounts(body: bytes, errmsg: str) -> None:
    assert parse_provider_answer(body) == ProviderAnswer(
        update=True, errmsg=errmsg, sipaccounts=[], xmppaccounts=[]
    )


def test_it_accepts_a_utf8_byte_order_mark() -> None:
    assert parse_provider_answer(b'\xef\xbb\xbf{"update": false, "sipaccounts": []}').update is False


@pytest.mark.parametrize(
    ("body", "reasons"),
    [
        (b"", ["body: empty, expected a JSON object"]),
        (b"  \n", ["body: empty, expected a JSON object"]),
        (b'{"update": true, "errmsg": "caf\xe9"}', ["body: not valid UTF-8 (byte 0xe9 at position 31)"]),
        (b"<html>502 Bad Gateway</html>", ["body: JSON is not valid: Expecting value at line 1 column 1"]),
        (
            b'{"update": true,\n "sipaccounts": [}',
            ["body: JSON is not valid: Expecting value at line 2 column 18"],
        ),
        (b'{"update": true} trailing', ["body: JSON is not valid: Extra data at line 1 column 18"]),
        (b'{"update": true, "update": false, "sipaccounts": []}', ['body: JSON has the key "update" twice']),
        (b'{"update": true, "sipaccounts": [], "n": NaN}', ["body: JSON holds NaN, which is not valid JSON"]),
        (
            b'{"update": true, "sipaccounts": [], "n": Infinity}',
            ["body: JSON holds Infinity, which is not valid JSON"],
        ),
        (
            b'{"update": true, "sipaccounts": [], "n": ' + b"9" * 33 + b"}",
            ["body: JSON holds a number longer than 32 characters"],
        ),
        (
            b'{"update": true, "sipaccounts": [], "n": 1.' + b"5" * 40 + b"}",
            ["body: JSON holds a number longer than 32 characters"],
        ),
        (
            b'{"update": true, "sipaccounts": [], "n": ' + b"[" * 40 + b"]" * 40 + b"}",
            ["body: JSON nests deeper than 32 levels"],
        ),
        (b"[" * 100_000 + b"]" * 100_000, ["body: JSON nests deeper than 32 levels"]),
        (b" " * (256 * 1024 + 1), ["body: larger than 262144 bytes"]),
        (b"[]", ["answer: expected a JSON object, got an array"]),
        (b'"ok"', ["answer: expected a JSON object, got a string"]),
        (b"null", ["answer: expected a JSON object, got null"]),
        (b"{}", ["update: missing"]),
        (b'{"sipaccounts": []}', ["update: missing"]),
        (
            b'{"update": 1, "sipaccounts": []}',
            ['update: expected true, false, "true" or "false", got a number'],
        ),
        (
            b'{"update": "yes", "sipaccounts": []}',
            ['update: expected true, false, "true" or "false", got "yes"'],
        ),
        (
            b'{"update": null, "sipaccounts": []}',
            ['update: expected true, false, "true" or "false", got null'],
        ),
        (b'{"update": true, "sipaccounts": [], "errmsg": 5}', ["errmsg: Input should be a valid string"]),
        (b'{"update": true, "sipaccounts": {}}', ["sipaccounts: Input should be a valid list"]),
        (b'{"update": true, "sipaccounts": null}', ["sipaccounts: Input should be a valid list"]),
        (
            b'{"update": true, "sipaccounts": ["1000"]}',
            [
                "sipaccounts[0]: Input should be a valid dictionary or instance of SipAccount",
            ],
        ),
        (
            b'{"update": true, "sipaccounts": [{"sipusername": 1000, "sippassword": "x"}]}',
            [
                "sipaccounts[0].sipusername: Input should be a valid string",
            ],
        ),
        (
            b'{"update": true, "sipaccounts": [{"sipusername": "1000"}, {"sippassword": "x"}]}',
            [
                "sipaccounts[0].sippassword: missing",
                "sipaccounts[1].sipusername: missing",
            ],
        ),
        (
            b'{"update": true, "sipaccounts": [{"sipusername": "1", "sippassword": "x", "transport": '
            b'"SCTP"}]}',
            [
                "sipaccounts[0].transport: Input should be 'UDP', 'TCP' or 'TLS'",
            ],
        ),
        (
            b'{"update": "x", "sipaccounts": [{"sipusername": "1"}], "xmppaccounts": [{"jid": "a"}]}',
            [
                'update: expected true, false, "true" or "false", got "x"',
                "sipaccounts[0].sippassword: missing",
                "xmppaccounts[0].password: missing",
                "xmppaccounts[0].domain: missing",
            ],
        ),
    ],
)
def test_it_refuses_a_bad_answer_with_exact_reasons(body: bytes, reasons: list[str]) -> None:
    assert reasons_for(body) == reasons


def test_it_refuses_more_than_twenty_accounts() -> None:
    body = json.dumps({"update": True, "sipaccounts": [ACCOUNT] * 21}).encode()

    assert reasons_for(body) == ["sipaccounts: at most 20 accounts are allowed, got 21"]


def test_it_accepts_exactly_twenty_accounts() -> None:
    body = json.dumps({"update": True, "sipaccounts": [ACCOUNT] * 20}).encode()

    assert len(parse_provider_answer(body).sipaccounts) == 20


def test_bad_answer_reads_as_its_reasons() -> None:
    assert str(BadAnswer(["a: missing", "b: missing"])) == "a: missing; b: missing"
