"""Malformed and hostile codes end in a CodeError that names the problem, never a crash."""

from __future__ import annotations

import random

import pytest

from sessioncloud.codes.formats import (
    MAX_CODE_BYTES,
    CodeError,
    ParsedCode,
    encode,
    parse_code,
)

ACCOUNT = '{"sipusername":"1000","sippassword":"1234"}'


def refusal(text: object) -> str:
    with pytest.raises(CodeError) as caught:
        parse_code(text)  # type: ignore[arg-type]
    return str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the code is empty"),
        (" \r\n\t", "the code is empty"),
        ("http://example.com/", "unknown code scheme 'http:'; expected scloc: or scsc:"),
        ("sip:1000@pbx", "unknown code scheme 'sip:'; expected scloc: or scsc:"),
        ("hello world", "the code does not start with scloc: or scsc:"),
        ("scloc", "the code does not start with scloc: or scsc:"),
        ("scloc:", "the scloc: code carries nothing after the scheme"),
        ("scloc:AcmeInc", "missing '|' between the ProviderId and the account JSON"),
        (
            f'scloc:AcmeInc {{"sipaccounts":[{ACCOUNT}]}}',
            "expected scloc:<ProviderId>|<json> or scloc:<json>; missing '|'",
        ),
        (f'scloc::{{"sipaccounts":[{ACCOUNT}]}}', "stray ':' after scloc:"),
        ("scsc:1000", "the scsc: code has no password; expected scsc:<username>:<password>[:<ProviderId>]"),
        ("scsc::1234:AcmeInc", "the username is empty"),
        ("scsc:1000::AcmeInc", "the password is empty"),
        (
            "scsc:1000:1234:1Acme",
            "the ProviderId '1Acme' is not valid: it must be 3 to 32 ASCII "
            "letters and digits, starting with a letter",
        ),
        (
            f'scloc:Ac|{{"sipaccounts":[{ACCOUNT}]}}',
            "the ProviderId 'Ac' is not valid: it must "
            "be 3 to 32 ASCII letters and digits, starting with a letter",
        ),
        (
            f'scloc:|{{"sipaccounts":[{ACCOUNT}]}}',
            "the ProviderId is not valid: it must be 3 to "
            "32 ASCII letters and digits, starting with a letter",
        ),
        ("scsc:1000:" + "p" * 257, "the password is longer than 256 characters"),
    ],
)
def test_it_refuses_a_malformed_code_with_a_clear_message(text: str, message: str) -> None:
    assert refusal(text) == message


def test_it_refuses_a_code_over_4_kb() -> None:
    text = f'scloc:AcmeInc|{{"sipaccounts":[{ACCOUNT}],"pad":"{"x" * MAX_CODE_BYTES}"}}'

    assert refusal(text) == "the code is longer than 4096 bytes (UTF-8)"


def test_it_counts_the_4_kb_limit_in_utf8_bytes_not_characters() -> None:
    padding = "é" * 2100  # 2100 characters, 4200 bytes
    text = f'scloc:{{"sipaccounts":[{ACCOUNT}],"pad":"{padding}"}}'

    assert len(text) < MAX_CODE_BYTES
    assert refusal(text) == "the code is longer than 4096 bytes (UTF-8)"


def test_it_accepts_a_code_of_exactly_4_kb() -> None:
    head = f'scloc:{{"sipaccounts":[{ACCOUNT}],"pad":"'
    text = head + "x" * (MAX_CODE_BYTES - len(head) - 2) + '"}'

    assert len(text.encode()) == MAX_CODE_BYTES
    assert parse_code(text).sipaccounts[0].sipusername == "1000"


def test_it_refuses_a_huge_input_quickly() -> None:
    assert refusal("scsc:" + "a" * 10_000_000) == "the code is longer than 4096 bytes (UTF-8)"


@pytest.mark.parametrize("json_text", ["[" * 2000 + "]" * 2000, "[" * 4000, '{"":' * 1000])
def test_it_refuses_deeply_nested_json_without_recursing(json_text: str) -> None:
    # Each of these makes json.loads itself raise RecursionError.
    text = "scloc:" + json_text

    assert refusal(text) == "the account JSON nests deeper than 20 levels"


def test_it_accepts_json_nested_up_to_the_limit() -> None:
    nested = "[" * 17 + "]" * 17
    text = f'scloc:{{"sipaccounts":[{{"sipusername":"1","sippassword":"2","x":{nested}}}]}}'

    assert parse_code(text).sipaccounts[0].sipusername == "1"


def test_it_does_not_count_brackets_inside_json_strings_as_nesting() -> None:
    text = f'scloc:{{"sipaccounts":[{{"sipusername":"{"[" * 100}","sippassword":"\\"{{"}}]}}'

    assert parse_code(text).sipaccounts[0].sipusername == "[" * 100


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'scloc:AcmeInc|{"sipaccounts":[{"sipusername":"1" "sippassword":"2"}]}',
            "the account JSON is not valid: Expecting ',' delimiter at character 50",
        ),
        ("scloc:AcmeInc|", "the account JSON is missing"),
        (
            "scloc:AcmeInc|{",
            "the account JSON is not valid: Expecting property name enclosed in "
            "double quotes at character 16",
        ),
        ('scloc:{"sipaccounts":[]} x', "the account JSON is not valid: Extra data at character 26"),
        ('scloc:{"sipaccounts":[],"n":NaN}', "the account JSON holds NaN, which is not valid JSON"),
        (
            'scloc:{"sipaccounts":[{"sipusername":"1","sippassword":"2","sippassword":"3"}]}',
            'the account JSON has the key "sippassword" twice',
        ),
        (
            'scloc:{"sipaccounts":[{"sipusername":"\\ud800","sippassword":"2"}]}',
            "the account JSON holds an invalid \\u escape (a lone surrogate)",
        ),
    ],
)
def test_it_refuses_bad_json_naming_the_problem_and_position(text: str, message: str) -> None:
    assert refusal(text) == message


def test_it_counts_json_error_positions_in_the_code_as_given() -> None:
    # Character 51 is the stray 1, counted from the leading blanks, not from the JSON.
    text = '   scloc:AcmeInc|{"sipaccounts":[{"sipusername":""1"}]}'

    assert text[50] == "1"
    assert refusal(text) == ("the account JSON is not valid: Expecting ',' delimiter at character 51")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scloc:[]", "the account JSON must be an object holding sipaccounts, got an array"),
        ('scloc:{"sipaccounts":{}}', "the accounts are not valid: sipaccounts: Input should be a valid list"),
        (
            'scloc:{"sipaccounts":[{"sippassword":"2"}]}',
            "the accounts are not valid: sipaccounts[0].sipusername: missing",
        ),
        (
            'scloc:{"sipaccounts":[{"sipusername":1000,"sippassword":1234}]}',
            "the accounts are not valid: sipaccounts[0].sipusername: Input should be a valid string; "
            "sipaccounts[0].sippassword: Input should be a valid string",
        ),
        (
            'scloc:{"sipaccounts":[{"sipusername":"1","sippassword":"2","transport":"SCTP"}]}',
            "the accounts are not valid: sipaccounts[0].transport: Input should be 'UDP', 'TCP' or 'TLS'",
        ),
        (
            'scloc:{"sipaccounts":[{"sipusername":"1","sippassword":"2\\n"}]}',
            "the accounts are not valid: sipaccounts[0].sippassword: Value error, must not contain "
            "control characters",
        ),
        (
            'scloc:{"xmppaccounts":[{"jid":"a@b","password":"x","domain":"b","port":"5222"}]}',
            "the accounts are not valid: xmppaccounts[0].port: Input should be a valid integer",
        ),
        (
            'scloc:?providerId=AcmeInc&sipaccounts="{}"',
            "the accounts are not valid: sipaccounts: expected a JSON array, got an object",
        ),
        ('scloc:{"sipaccounts":[]}', "the code carries no accounts"),
        ('scloc:?providerId=AcmeInc&sipaccounts="[]"', "the code carries no accounts"),
    ],
)
def test_it_refuses_wrong_types_and_missing_fields_with_the_schema_reasons(text: str, message: str) -> None:
    assert refusal(text) == message


def test_it_refuses_more_accounts_than_the_schema_allows() -> None:
    text = "scloc:" + '{"sipaccounts":[' + ",".join([ACCOUNT] * 21) + "]}"

    assert refusal(text) == (
        "the accounts are not valid: sipaccounts: List should have at most 20 items after validation, not 21"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scsc:1000:12\x0034:AcmeInc", "the code holds a control character (U+0000) at character 13"),
        ("scsc:1000\x1b[31m:1234", "the code holds a control character (U+001B) at character 10"),
        ("scsc:1000:1234\x7f", "the code holds a control character (U+007F) at character 15"),
        ("scsc:1000:12\t34", "the password holds a control character"),
        ("scsc:10\n00:1234:AcmeInc", "the username holds a control character"),
        ("scsc:1000:12\ud83434", "the code holds an invalid character (a lone surrogate) at character 13"),
        (
            'scloc:{"sipaccounts":[{"sipusername":"1\n","sippassword":"2"}]}',
            "the account JSON is not valid: Invalid control character at character 40",
        ),
    ],
)
def test_it_refuses_control_characters(text: str, message: str) -> None:
    assert refusal(text) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scloc:?v=3&token=" + "a" * 22, "unsupported setup link version v=3; expected v=2"),
        ("scloc:?token=" + "a" * 22, "unsupported setup link version v=; expected v=2"),
        ("scloc:?v=2", "the setup link has no token"),
        (
            "scloc:?v=2&token=short",
            "the setup token is not valid: it must be 16 to 128 characters of A-Z, a-z, 0-9, '-' and '_'",
        ),
        (
            "scloc:?v=2&token=" + "a" * 20 + "%2F",
            "the setup token is not valid: it must be 16 to 128 characters of A-Z, a-z, 0-9, '-' and '_'",
        ),
        ("scloc:?v=2&v=2&token=" + "a" * 22, "the link parameter 'v' appears twice"),
        ("scloc:?v&token=" + "a" * 22, "the link parameter 'v' has no name=value form"),
        (
            "scloc:?foo=bar",
            "unknown scloc: link; expected scloc:?v=2&token=<token> or "
            'scloc:?providerId=<id>&sipaccounts="<json array>"',
        ),
        (f'scloc:?sipaccounts="[{ACCOUNT}]"', "the desktop link has no providerId before sipaccounts="),
        (
            f'scloc:?providerId=A&sipaccounts="[{ACCOUNT}]"',
            "the ProviderId 'A' is not valid: it "
            "must be 3 to 32 ASCII letters and digits, starting with a letter",
        ),
        (
            f'scloc:?providerId=AcmeInc&sipaccounts="[{ACCOUNT}]',
            "the sipaccounts value opens a '\"' that is never closed",
        ),
        ("scsc:?user=1000&pass=1234", "expected scsc:?username=<user>[:<ProviderId>]&password=<password>"),
        (
            "scsc:?username=1000:Ac&password=1234",
            "the ProviderId 'Ac' is not valid: it must be 3 "
            "to 32 ASCII letters and digits, starting with a letter",
        ),
        ("scsc:?username=&password=1234", "the username is empty"),
        ("scsc:?username=%26password=1234", "the username is empty"),
        ("scsc:?username=:AcmeInc%26password=1234", "the username is empty"),
        ("scsc:?username=1000:AcmeInc%26password=", "the password is empty"),
    ],
)
def test_it_refuses_malformed_links(text: str, message: str) -> None:
    assert refusal(text) == message


def test_it_refuses_input_that_is_not_text() -> None:
    assert refusal(b"scsc:1000:1234") == "the code must be text, got bytes"


def test_it_never_echoes_a_password_in_a_message() -> None:
    message = refusal("scsc:1000:s3cr3t-\x01:AcmeInc") + refusal("scsc:1000:s3cr3t\t:Acme")

    assert "s3cr3t" not in message


def mutate(rng: random.Random, text: str) -> str:
    pieces = list('{}[]":,|?&=%\\ \t\n\r\x00\x7fabZ09-_.:') + [
        "\ud800",
        "é",
        "\u2028",
        "İ",
        "1e999",
        "NaN",
        "true",
        "null",
        "scloc:",
        "scsc:",
        "sipaccounts=",
        "%26",
        "[" * 30,
    ]
    chars = list(text)
    for _ in range(rng.randint(1, 6)):
        position = rng.randint(0, len(chars))
        choice = rng.random()
        if choice < 0.4:
            chars.insert(position, rng.choice(pieces))
        elif chars and choice < 0.7:
            del chars[min(position, len(chars) - 1)]
        elif chars:
            chars[min(position, len(chars) - 1)] = rng.choice(pieces)
    return "".join(chars)


SEEDS = [
    'scloc:AcmeInc| {"sipaccounts":[{"sipusername":"1","sippassword":"2","subdomain":"pbx"}]}',
    'scloc:{"sipaccounts":[],"xmppaccounts":[{"jid":"a@b","password":"x","domain":"b"}]}',
    'scloc:?providerId=AcmeInc&sipaccounts="[{"sipusername":"1","sippassword":"2"}]"',
    "scsc:username:password:providerId",
    "scsc:?username=bob:Acme1&password=a%26b",
    "scloc:?v=2&token=abcdefghijklmnopqrstuv",
]


def test_it_only_ever_raises_code_error_on_randomly_mangled_codes() -> None:
    # hypothesis is not a dependency; a seeded loop over mutations of every format finds the
    # same class of crash and fails the same way every run.
    rng = random.Random(20240611)
    outcomes = {"parsed": 0, "refused": 0}
    for _ in range(50_000):
        text = mutate(rng, rng.choice(SEEDS))
        try:
            parsed = parse_code(text)
        except CodeError:
            outcomes["refused"] += 1
            continue
        outcomes["parsed"] += 1
        assert isinstance(parsed, ParsedCode)
        assert_round_trips_if_encodable(parsed)
    assert outcomes["parsed"] > 1000 and outcomes["refused"] > 1000


def assert_round_trips_if_encodable(parsed: ParsedCode) -> None:
    try:
        text = encode(parsed)
    except CodeError:
        return  # e.g. a password holding ':' that only the lenient parser accepts
    again = parse_code(text)
    expected = (
        parsed
        if parsed.format != "scsc-desktop"
        else ParsedCode(
            kind="external",
            format="scsc",
            provider_id=parsed.provider_id,
            username=parsed.username,
            password=parsed.password,
        )
    )
    assert again == expected, text
