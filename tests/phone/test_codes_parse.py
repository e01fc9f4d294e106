from __future__ import annotations

import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def parse(code: object):
    return Client().post(
        "/api/v1/codes/parse", data=json.dumps({"code": code}), content_type="application/json"
    )


def test_it_parses_a_published_example_exactly():
    response = parse(
        'scloc:providerId| { "sipaccounts" : [ { "sipusername" : "user1" , "sippassword": '
        '"29de?8", "subdomain" : "pbx"} ] }'
    )
    assert response.status_code == 200
    assert response.json() == {
        "kind": "local",
        "format": "scloc",
        "providerId": "providerId",
        "sipaccounts": [{"sipusername": "user1", "sippassword": "29de?8", "subdomain": "pbx"}],
        "xmppaccounts": [],
        "username": None,
        "password": None,
        "token": None,
    }


def test_it_parses_external_and_token_codes_without_calling_anyone():
    assert parse("scsc:username:password:providerId").json()["username"] == "username"
    token = parse("scloc:?v=2&token=" + "a" * 32).json()
    assert (token["kind"], token["format"], token["token"]) == ("token", "scloc-token", "a" * 32)


def test_it_parses_a_windows_activation_link_of_a_whitelabel_app():
    assert parse("scsc:?username=1000@pbx.example.com:%26password=a1B2c3").json() == {
        "kind": "external",
        "format": "scsc-desktop",
        "providerId": None,
        "sipaccounts": [],
        "xmppaccounts": [],
        "username": "1000@pbx.example.com",
        "password": "a1B2c3",
        "token": None,
    }


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("http://example.com", "This code cannot be read: "),
        ("scloc:Acme", "This code cannot be read: "),
        ("scloc:Acme|{" + "[" * 100, "This code cannot be read: "),
        ("scsc:" + "x" * 5000, "This code cannot be read: "),
    ],
)
def test_malformed_codes_are_422_invalid_code(code, message):
    response = parse(code)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_code"
    assert error["message"].startswith(message)
    assert set(error["fields"]) == {"code"}


def test_a_code_of_the_wrong_type_names_the_field():
    response = parse(123)
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"code": "Input should be a valid string"}
