"""call_provider against real HTTP servers on loopback."""

from __future__ import annotations

import gzip
import socket
import threading
from typing import Any

import pytest

from sessioncloud import __version__
from sessioncloud.lib.sipaccount import SipAccount, XmppAccount
from sessioncloud.provisioning.answer import ProviderAnswer
from sessioncloud.provisioning.guard import OutboundPolicy
from sessioncloud.provisioning.signing import sign, verify
from sessioncloud.provisioning.upstream import (
    MaskedRequest,
    UpstreamRequest,
    UpstreamResult,
    call_provider_blocking,
)
from tests.providerstub import (
    LOOPBACK_POLICY,
    Behaviour,
    ProviderStub,
    StubHandler,
    json_reply,
    start_stub,
    stop_stub,
)

PASSWORD = "s3cr3t-pw"
ACCOUNT = {"sipusername": "1000", "sippassword": "sip-secret"}


def call(url: str, **fields: object) -> UpstreamResult:
    values: dict[str, Any] = {
        "username": "1000",
        "password": PASSWORD,
        "device_id": "dev-1",
        "timeout_seconds": 1.0,
    }
    values.update(fields)
    return call_provider_blocking(UpstreamRequest(url=url, **values), LOOPBACK_POLICY)


def assert_no_secret(result: UpstreamResult) -> None:
    assert PASSWORD not in result.detail
    assert "password=" not in result.detail


# --- successful answers -----------------------------------------------------------------


def test_it_returns_the_account_of_a_one_account_answer(provider: ProviderStub) -> None:
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT]})

    result = call(provider.url())

    assert result.error_code is None
    assert result.ok is True
    assert result.status == 200
    assert result.detail == "HTTP 200, 1 SIP account(s)"
    assert result.answer == ProviderAnswer(
        update=True,
        errmsg="",
        sipaccounts=[SipAccount(sipusername="1000", sippassword="sip-secret")],
        xmppaccounts=[],
    )
    assert (
        result.body_text
        == '{"update": true, "sipaccounts": [{"sipusername": "1000", "sippassword": "sip-secret"}]}'
    )
    assert result.reasons == ()


def test_it_returns_several_accounts_with_every_optional_field(provider: ProviderStub) -> None:
    full = {
        "sipusername": "2000",
        "sippassword": "a",
        "transport": "tls",
        "subdomain": "pbx",
        "authusername": "auth2000",
        "displayname": "Front desk",
        "srtp": True,
        "messaging": "ENABLED",
        "video": "disabled",
        "callrecording": False,
        "unknown": {"ignored": 1},
    }
    xmpp = {"jid": "u@chat.example", "password": "x", "domain": "chat.example", "port": 5223, "usetls": True}
    provider.answer_json(
        {"update": True, "errmsg": "Welcome", "sipaccounts": [ACCOUNT, full], "xmppaccounts": [xmpp]}
    )

    result = call(provider.url())

    assert result.detail == "HTTP 200, 2 SIP account(s)"
    assert result.answer == ProviderAnswer(
        update=True,
        errmsg="Welcome",
        sipaccounts=[
            SipAccount(sipusername="1000", sippassword="sip-secret"),
            SipAccount(
                sipusername="2000",
                sippassword="a",
                transport="TLS",
                subdomain="pbx",
                authusername="auth2000",
                displayname="Front desk",
                srtp="Enabled",
                messaging="Enabled",
                video="Disabled",
                callrecording="Disabled",
            ),
        ],
        xmppaccounts=[
            XmppAccount(jid="u@chat.example", password="x", domain="chat.example", port=5223, usetls=True)
        ],
    )


@pytest.mark.parametrize(("sent", "update"), [(True, True), (False, False), ("true", True), ("false", False)])
def test_it_accepts_update_as_a_boolean_or_a_string(
    provider: ProviderStub, sent: object, update: bool
) -> None:
    provider.answer_json({"update": sent, "sipaccounts": []})

    result = call(provider.url())

    assert result.answer is not None
    assert result.answer.update is update


def test_it_passes_an_empty_account_list_and_errmsg_through(provider: ProviderStub) -> None:
    provider.answer_json({"update": True, "sipaccounts": [], "errmsg": "Wrong username or password."})

    result = call(provider.url())

    assert result.error_code is None
    assert result.answer == ProviderAnswer(
        update=True, errmsg="Wrong username or password.", sipaccounts=[], xmppaccounts=[]
    )


# --- the request ------------------------------------------------------------------------------


def test_it_sends_the_compatible_request(provider: ProviderStub) -> None:
    provider.answer_json({"update": True, "sipaccounts": []})

    call(provider.url(), reprovision=True, auth_header="Bearer abc")

    [received] = provider.requests
    assert received.path == f"/provisioning?username=1000&password={PASSWORD}&reprovision=true&deviceId=dev-1"
    assert received.headers["User-Agent"] == f"SessionCloud/{__version__}"
    assert received.headers["Accept"] == "application/json"
    assert received.headers["Accept-Encoding"] == "identity"
    assert received.headers["Authorization"] == "Bearer abc"
    assert received.headers["Host"] == f"127.0.0.1:{provider.port}"
    assert "X-SessionCloud-Signature" not in received.headers


def test_it_url_encodes_the_parameters(provider: ProviderStub) -> None:
    provider.answer_json({"update": True, "sipaccounts": []})

    call(provider.url(), username="al ice+1", password="p&ss=/?#ü", device_id="a/b")

    assert provider.requests[0].path == (
        "/provisioning?username=al%20ice%2B1&password=p%26ss%3D%2F%3F%23%C3%BC&reprovision=false&deviceId=a%2Fb"
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/p?tenant=7", "/p?tenant=7&username=1000"),
        ("/p?", "/p?username=1000"),
        ("/p?tenant=7&", "/p?tenant=7&username=1000"),
        ("/p#fragment", "/p?username=1000"),
    ],
)
def test_it_appends_the_parameters_as_the_url_needs(provider: ProviderStub, path: str, expected: str) -> None:
    provider.answer_json({"update": True, "sipaccounts": []})

    call(provider.url(path))

    assert provider.requests[0].path.startswith(expected + "&password=")


def test_it_signs_the_request_with_every_valid_secret(provider: ProviderStub) -> None:
    provider.answer_json({"update": True, "sipaccounts": []})
    request = UpstreamRequest(
        url=provider.url("/p?tenant=7"),
        username="1000",
        password=PASSWORD,
        signing_secrets=("old", "new"),
        timeout_seconds=1,
    )

    call_provider_blocking(request, LOOPBACK_POLICY, clock=lambda: 1767225600.9)

    [received] = provider.requests
    assert received.headers["X-SessionCloud-Timestamp"] == "1767225600"
    signature = received.headers["X-SessionCloud-Signature"]
    assert signature == sign(["old", "new"], 1767225600, "GET", received.path)
    assert signature.count("v1=") == 2
    assert verify(signature, "new", "1767225600", "GET", received.path, now=1767225610) is True


def test_it_describes_the_request_with_secrets_masked(provider: ProviderStub) -> None:
    provider.answer_json({"update": True, "sipaccounts": []})

    result = call(provider.url(), auth_header="Bearer abc", signing_secrets=("s1", "s2"))

    assert result.masked_request == MaskedRequest(
        method="GET",
        url=f"{provider.url()}?username=1000&password=***&reprovision=false&deviceId=dev-1",
        headers={
            "User-Agent": f"SessionCloud/{__version__}",
            "Accept": "application/json",
            "Accept-Encoding": "identity",
            "Authorization": "***",
            "X-SessionCloud-Timestamp": "<unix seconds>",
            "X-SessionCloud-Signature": "v1=***,v1=***",
        },
    )


# --- failures -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 404, 500, 503])
def test_it_reports_a_non_2xx_status_as_provider_error(provider: ProviderStub, status: int) -> None:
    provider.answer(status, b"not here")

    result = call(provider.url())

    assert (result.error_code, result.status, result.detail) == (
        "provider_error",
        status,
        f"the provider answered HTTP {status}",
    )
    assert result.body_text == "not here"
    assert result.answer is None


def test_it_times_out_when_the_server_never_answers(provider: ProviderStub) -> None:
    def stay_silent(handler: StubHandler) -> None:
        handler.stub.stop.wait(5)

    provider.behaviour = stay_silent

    result = call(provider.url())

    assert result.error_code == "provider_timeout"
    assert result.detail == f"no complete answer from 127.0.0.1:{provider.port} within 1 s"
    assert 900 <= result.latency_ms < 1500


def drip(handler: StubHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    try:
        while not handler.stub.stop.wait(0.05):
            handler.wfile.write(b" ")
    except OSError:
        pass  # the client hung up, as it should


def test_a_slow_drip_body_cannot_extend_the_deadline(provider: ProviderStub) -> None:
    provider.behaviour = drip

    result = call(provider.url())

    assert result.error_code == "provider_timeout"
    assert result.detail == f"no complete answer from 127.0.0.1:{provider.port} within 1 s"
    assert 900 <= result.latency_ms < 1500


def test_it_reports_a_closed_port_as_unreachable() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]  # bound but not listening: connections are refused

        result = call(f"http://127.0.0.1:{port}/p")

    assert result.error_code == "provider_unreachable"
    assert result.detail == f"could not connect to 127.0.0.1:{port}: [Errno 111] Connection refused"


def test_it_reports_a_name_that_does_not_resolve_as_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_name(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)

    result = call("http://provider.invalid/p")

    assert result.error_code == "provider_unreachable"
    assert result.detail == "provider.invalid does not resolve (Name or service not known)"


def test_a_slow_dns_lookup_counts_against_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    released = threading.Event()

    def slow_lookup(*args: object, **kwargs: object) -> list[object]:
        released.wait(3)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", slow_lookup)
    try:
        result = call("http://slow.example/p", timeout_seconds=0.5)
    finally:
        released.set()

    assert (result.error_code, result.detail) == (
        "provider_timeout",
        "DNS lookup for slow.example took longer than 0.5 s",
    )
    assert 400 <= result.latency_ms < 1000


def test_it_refuses_not_json(provider: ProviderStub) -> None:
    provider.answer(200, b"<html>oops</html>")

    result = call(provider.url())

    assert result.error_code == "provider_bad_response"
    assert result.reasons == ("body: JSON is not valid: Expecting value at line 1 column 1",)
    assert result.detail == "invalid answer: body: JSON is not valid: Expecting value at line 1 column 1"
    assert result.body_text == "<html>oops</html>"


def test_it_refuses_an_answer_of_the_wrong_shape(provider: ProviderStub) -> None:
    provider.answer_json({"update": "maybe", "sipaccounts": [{"sipusername": "1000"}]})

    result = call(provider.url())

    assert result.error_code == "provider_bad_response"
    assert result.status == 200
    assert result.reasons == (
        'update: expected true, false, "true" or "false", got "maybe"',
        "sipaccounts[0].sippassword: missing",
    )


def test_it_refuses_a_body_declared_over_the_cap(provider: ProviderStub) -> None:
    provider.answer(200, b" " * (256 * 1024 + 1))

    result = call(provider.url())

    assert (result.error_code, result.detail) == ("provider_bad_response", "answer larger than 262144 bytes")


def test_it_stops_reading_an_undeclared_body_at_the_cap(provider: ProviderStub) -> None:
    def endless(handler: StubHandler) -> None:
        handler.send_response(200)
        handler.end_headers()  # no Content-Length: the body runs until the connection closes
        try:
            for _ in range(64):
                handler.wfile.write(b" " * 65536)
        except OSError:
            pass

    provider.behaviour = endless

    result = call(provider.url())

    assert (result.error_code, result.detail) == ("provider_bad_response", "answer larger than 262144 bytes")


def redirect_to(location: str, status: int = 302) -> Behaviour:
    def reply(handler: StubHandler) -> None:
        handler.send_response(status)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return reply


def test_it_follows_a_relative_redirect_to_itself_as_fusionpbx_answers(provider: ProviderStub) -> None:
    answers = iter(
        [
            redirect_to("index.php?username=1000&password=x"),
            json_reply({"update": True, "sipaccounts": [ACCOUNT]}),
        ]
    )
    provider.behaviour = lambda handler: next(answers)(handler)

    result = call(provider.url("/app/sessiontalk/provision"), signing_secrets=("k1",))

    assert (result.error_code, result.detail) == (None, "HTTP 200, 1 SIP account(s), after 1 redirect(s)")
    assert result.redirects == (f"http://127.0.0.1:{provider.port}/app/sessiontalk/index.php",)
    assert [request.path for request in provider.requests][
        1
    ] == "/app/sessiontalk/index.php?username=1000&password=x"


def test_each_redirect_is_signed_afresh_for_its_own_url(provider: ProviderStub) -> None:
    answers = iter([redirect_to("/second?a=1"), json_reply({"update": True, "sipaccounts": [ACCOUNT]})])
    provider.behaviour = lambda handler: next(answers)(handler)

    call(provider.url(), signing_secrets=("k1",))

    second = provider.requests[1]
    timestamp = second.headers["X-SessionCloud-Timestamp"]
    assert verify(
        second.headers["X-SessionCloud-Signature"], "k1", timestamp, "GET", "/second?a=1", now=int(timestamp)
    )


def test_it_follows_at_most_three_redirects(provider: ProviderStub) -> None:
    provider.behaviour = redirect_to("/again")

    result = call(provider.url())

    assert (result.error_code, result.detail, result.status) == (
        "provider_bad_response",
        "more than 3 redirects",
        302,
    )
    assert len(provider.requests) == 4
    assert len(result.redirects) == 3


def test_it_refuses_a_redirect_to_another_origin_without_calling_it(provider: ProviderStub) -> None:
    other = start_stub()
    try:
        provider.behaviour = redirect_to(f"http://127.0.0.1:{other.port}/elsewhere?password={PASSWORD}", 307)

        result = call(provider.url())

        assert result.error_code == "provider_bad_response"
        assert (
            result.detail
            == f"redirect to http://127.0.0.1:{other.port}/elsewhere not followed: another origin"
        )
        assert other.requests == []
        assert_no_secret(result)
    finally:
        stop_stub(other)


def test_it_refuses_a_redirect_from_https_to_http(provider: ProviderStub) -> None:
    # Same host and port, another scheme: another origin. The first hop is refused by the
    # policy check, so the redirect is judged on its own here.
    from sessioncloud.provisioning.guard import check_url
    from sessioncloud.provisioning.upstream import _redirect_target

    https = "https://provider.example/p"
    with pytest.raises(Exception) as refused:
        _redirect_target(
            https, "http://provider.example/p", check_url(https, LOOPBACK_POLICY), LOOPBACK_POLICY, 301
        )
    assert str(refused.value) == "redirect to http://provider.example/p not followed: another origin"


def test_a_redirect_without_a_location_is_a_bad_response(provider: ProviderStub) -> None:
    provider.behaviour = redirect_to("")

    result = call(provider.url())

    assert (result.error_code, result.detail) == (
        "provider_bad_response",
        "redirect without a Location header",
    )


def test_it_refuses_a_compressed_answer_without_inflating_it(provider: ProviderStub) -> None:
    bomb = gzip.compress(b"0" * 20_000_000)  # ~20 KB on the wire, 20 MB inflated
    provider.answer(200, bomb, {"Content-Encoding": "gzip"})

    result = call(provider.url())

    assert result.error_code == "provider_bad_response"
    assert result.detail == "compressed answer refused (Content-Encoding: gzip)"
    assert result.body_text == ""


def test_it_refuses_a_loopback_url_under_the_default_policy(provider: ProviderStub) -> None:
    request = UpstreamRequest(url=f"https://127.0.0.1:{provider.port}/p", username="1000", password=PASSWORD)

    result = call_provider_blocking(request, OutboundPolicy())

    assert result.error_code == "provider_unreachable"
    assert result.detail == "refused: 127.0.0.1 is a loopback address"
    assert provider.requests == []


def test_it_refuses_a_name_resolving_to_loopback_before_connecting(provider: ProviderStub) -> None:
    request = UpstreamRequest(url=f"http://localhost:{provider.port}/p", username="1000", password=PASSWORD)

    result = call_provider_blocking(request, OutboundPolicy(allow_http=True))

    assert result.error_code == "provider_unreachable"
    assert result.detail in (
        "refused: localhost resolves to 127.0.0.1, a loopback address",
        "refused: localhost resolves to ::1, a loopback address",
    )
    assert provider.requests == []


def test_it_refuses_plain_http_under_the_default_policy(provider: ProviderStub) -> None:
    request = UpstreamRequest(url=provider.url(), username="1000", password=PASSWORD)

    result = call_provider_blocking(request, OutboundPolicy())

    assert (result.error_code, result.detail) == (
        "provider_unreachable",
        "refused: the URL must start with https://",
    )


@pytest.mark.parametrize("value", ["Bearer abc\r\nX-Injected: 1", "Bearer äbc", "Bearer \x00abc"])
def test_it_refuses_an_auth_header_value_that_is_not_printable_ascii(
    provider: ProviderStub, value: str
) -> None:
    provider.answer_json({"update": True, "sipaccounts": []})

    result = call(provider.url(), auth_header=value)

    assert (result.error_code, result.detail) == (
        "provider_unreachable",
        "the auth header value must be printable ASCII",
    )
    assert provider.requests == []


def test_failure_details_never_hold_the_password_or_query(provider: ProviderStub) -> None:
    outcomes = []
    for status, body in ((500, b"x"), (200, b"nope"), (302, b"")):
        provider.answer(status, body, {"Location": f"/x?password={PASSWORD}"})
        outcomes.append(call(provider.url()))

    for result in outcomes:
        assert_no_secret(result)
        assert PASSWORD not in result.masked_request.url


# --- what the breaker is told ----------------------------------------------------------------


@pytest.mark.parametrize(("status", "unhealthy"), [(500, True), (503, True), (404, False), (401, False)])
def test_only_server_errors_among_answers_say_the_service_is_unhealthy(
    provider: ProviderStub, status: int, unhealthy: bool
) -> None:
    provider.answer(status, b"")

    assert call(provider.url()).unhealthy is unhealthy


def test_a_timeout_and_a_refused_connection_say_the_service_is_unhealthy(provider: ProviderStub) -> None:
    provider.behaviour = lambda handler: handler.stub.stop.wait(3)
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{placeholder.getsockname()[1]}/p"

    assert call(provider.url(), timeout_seconds=0.3).unhealthy is True
    assert call(closed).unhealthy is True


def test_a_bad_answer_or_a_refused_url_says_nothing_about_health(provider: ProviderStub) -> None:
    provider.answer(200, b"not json")

    assert call(provider.url()).unhealthy is False
    assert (
        call_provider_blocking(
            UpstreamRequest(url=provider.url(), username="1", password="2"), OutboundPolicy()
        ).unhealthy
        is False
    )
