"""The phone's HTTP client: what it sends, and how it treats every kind of answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from sessioncloud.phone.client import (
    MAX_ANSWER_BYTES,
    ConfigAnswer,
    PhoneApi,
    PhoneApiError,
    ProvisionAnswer,
    ServerUnreachable,
)
from tests.livesrv import free_port
from tests.phone_client.acme import acme_account, acme_config

CONFIG = acme_config("external")
ACCOUNT = acme_account("1000", "pw")


def api_answering(
    handler: Callable[[httpx2.Request], httpx2.Response], seen: list[httpx2.Request] | None = None
) -> PhoneApi:
    def record(request: httpx2.Request) -> httpx2.Response:
        if seen is not None:
            request.read()
            seen.append(request)
        return handler(request)

    return PhoneApi("http://sc.test/", transport=httpx2.MockTransport(record))


def answer(status: int, body: Any = None, **headers: str) -> Callable[[httpx2.Request], httpx2.Response]:
    return lambda request: httpx2.Response(status, json=body, headers=headers)


def test_it_fetches_a_config_and_its_etag():
    seen: list[httpx2.Request] = []
    api = api_answering(answer(200, CONFIG, ETag='"v1"'), seen)

    assert api.get_config("Acme Inc/x") == ConfigAnswer(CONFIG, '"v1"')
    assert str(seen[0].url) == "http://sc.test/api/v1/providers/Acme%20Inc%2Fx/config"
    assert "if-none-match" not in seen[0].headers
    assert seen[0].headers["user-agent"].startswith("SessionCloud-Phone/")


def test_it_revalidates_with_if_none_match_and_understands_304():
    seen: list[httpx2.Request] = []
    api = api_answering(lambda request: httpx2.Response(304, headers={"ETag": '"v1"'}), seen)

    assert api.get_config("AcmeInc", '"v1"') == ConfigAnswer(None, '"v1"')
    assert seen[0].headers["if-none-match"] == '"v1"'


def test_a_304_to_an_unconditional_request_is_refused():
    api = api_answering(lambda request: httpx2.Response(304))

    with pytest.raises(PhoneApiError) as caught:
        api.get_config("AcmeInc")

    assert (caught.value.code, caught.value.message) == (
        "bad_response",
        "The server answered 304 Not Modified to a request that was not conditional.",
    )


def test_it_sends_the_provisioning_request_of_the_spec():
    seen: list[httpx2.Request] = []
    body = {"update": True, "errmsg": "", "configVersion": "v1", "sipaccounts": [ACCOUNT], "xmppaccounts": []}
    api = api_answering(answer(200, body), seen)

    result = api.provision("1000", "1234", "dev-1", provider_id="AcmeInc", reprovision=True)

    assert result == ProvisionAnswer(True, "", "v1", [ACCOUNT], [])
    assert (seen[0].method, str(seen[0].url)) == ("POST", "http://sc.test/api/v1/provision")
    sent = json.loads(seen[0].content)
    assert sent == {
        "username": "1000",
        "password": "1234",
        "deviceId": "dev-1",
        "reprovision": True,
        "app": sent["app"],
        "providerId": "AcmeInc",
    }
    assert sent["app"]["platform"] == "cli"


def test_an_api_error_keeps_its_code_and_message():
    api = api_answering(
        answer(404, {"error": {"code": "provider_not_found", "message": "No provider is known."}})
    )

    with pytest.raises(PhoneApiError) as caught:
        api.get_config("Nope1")

    assert (caught.value.status, caught.value.code, caught.value.message) == (
        404,
        "provider_not_found",
        "No provider is known.",
    )


def test_an_error_page_without_the_api_shape_is_still_an_error():
    api = api_answering(lambda request: httpx2.Response(502, text="<html>Bad gateway</html>"))

    with pytest.raises(PhoneApiError) as caught:
        api.redeem("t" * 22, "dev-1")

    assert (caught.value.code, caught.value.message) == (
        "http_502",
        "The server answered HTTP 502 without an API error.",
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {**CONFIG, "sip": {**CONFIG["sip"], "port": "5061"}},
            "The server's configuration is not valid: sip.port: Input should be a valid integer.",
        ),
        (
            {**CONFIG, "version": None},
            "The server's configuration is not valid: version: Input should be a valid string.",
        ),
        ([], "The server's configuration is not a JSON object."),
    ],
)
def test_a_config_of_the_wrong_shape_is_refused(body, message):
    api = api_answering(answer(200, body))

    with pytest.raises(PhoneApiError) as caught:
        api.get_config("AcmeInc")

    assert (caught.value.code, caught.value.message) == ("bad_response", message)


def test_an_answer_that_is_not_json_is_refused():
    api = api_answering(lambda request: httpx2.Response(200, text="hello"))

    with pytest.raises(PhoneApiError) as caught:
        api.get_config("AcmeInc")

    assert (caught.value.code, caught.value.message) == ("bad_response", "The server's answer is not JSON.")


def test_a_huge_answer_is_cut_off():
    api = api_answering(lambda request: httpx2.Response(200, content=b" " * (MAX_ANSWER_BYTES + 1)))

    with pytest.raises(PhoneApiError) as caught:
        api.get_config("AcmeInc")

    assert caught.value.message == f"The server's answer is larger than {MAX_ANSWER_BYTES} bytes."


def test_a_provisioning_answer_with_a_broken_account_is_refused():
    body = {
        "update": True,
        "errmsg": "",
        "configVersion": "v1",
        "sipaccounts": [{**ACCOUNT, "transport": "SCTP"}],
        "xmppaccounts": [],
    }
    api = api_answering(answer(200, body))

    with pytest.raises(PhoneApiError) as caught:
        api.provision("1000", "1234", "dev-1")

    assert caught.value.message == (
        "The server's provisioning answer is not valid: "
        "sipaccounts[0].transport: Input should be 'UDP', 'TCP' "
        "or 'TLS'."
    )


def test_a_refused_connection_is_reported_plainly():
    port = free_port()
    api = PhoneApi(f"http://127.0.0.1:{port}")

    with pytest.raises(ServerUnreachable) as caught:
        api.get_config("AcmeInc")

    assert str(caught.value) == f"cannot reach the server at http://127.0.0.1:{port}: connection refused"


def test_a_server_that_does_not_answer_in_time_is_reported():
    def hang(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("timed out", request=request)

    api = api_answering(hang)

    with pytest.raises(ServerUnreachable) as caught:
        api.get_config("AcmeInc")

    assert str(caught.value) == "the server at http://sc.test did not answer within 20 seconds"


@pytest.mark.parametrize("url", ["ftp://sc.test", "sc.test", "http://", "http://sc.test/?x=1"])
def test_a_server_url_must_be_http_or_https(url):
    with pytest.raises(ValueError):
        PhoneApi(url)
