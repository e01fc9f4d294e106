"""The front's phone endpoints: the same answers as Django's routes, bounded per App, cancellable."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from asgiref.sync import async_to_sync
from django.core.handlers.wsgi import WSGIHandler

from sessioncloud.lib.metrics import UPSTREAM
from sessioncloud.providers.models import ProvisioningLogEntry
from sessioncloud.serving.front import Front
from sessioncloud.serving.pools import blocking_on_caller_thread
from tests.providerstub import ProviderStub, StubHandler
from tests.serving.frontclient import (
    Answer,
    Headers,
    Proto,
    Scope,
    Spy,
    connections_kept_for_the_test,
    django_call,
    front_call,
)

pytestmark = pytest.mark.django_db

ACCOUNT = {"sipusername": "1000", "sippassword": "sip-pass-1000"}


@pytest.fixture
def spy() -> Spy:
    return Spy()


@pytest.fixture
def front(spy: Spy) -> Front:
    return Front(spy, django_threads=1, phone_threads=1)


def body(**values: object) -> bytes:
    return json.dumps(
        {"providerId": "ExtInc", "username": "1000", "password": "1234", "deviceId": "dev-1", **values}
    ).encode()


def answer_slowly(seconds: float) -> object:
    def reply(handler: StubHandler) -> None:
        if handler.stub.stop.wait(seconds):
            return
        payload = json.dumps({"update": True, "sipaccounts": [ACCOUNT]}).encode()
        try:
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            pass  # the caller hung up

    return reply


def test_it_provisions_exactly_as_django_does(external_app, provider: ProviderStub, spy, front):
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT], "errmsg": ""})
    from_django = django_call(WSGIHandler(), "POST", "/api/v1/provision", body())
    from_front = front_call(front, "POST", "/api/v1/provision", body())
    assert spy.calls == 0
    assert from_front == from_django
    assert from_front.json()["sipaccounts"][0]["domain"] == "sip.ext.example"


@pytest.mark.parametrize(
    "sent",
    [
        body(deviceId=""),
        json.dumps({"username": "1000"}).encode(),
        body(reprovision="maybe"),
        body(app={"platform": "x" * 21}),
    ],
)
def test_it_refuses_an_invalid_body_exactly_as_django_does(external_app, front, sent):
    from_django = django_call(WSGIHandler(), "POST", "/api/v1/provision", sent)
    from_front = front_call(front, "POST", "/api/v1/provision", sent)
    assert same_answer(from_front, from_django)
    assert (from_front.status, from_front.json()["error"]["code"]) == (422, "invalid_request")


def same_answer(first: Answer, second: Answer) -> bool:
    """The same status, headers and JSON (Django's JsonResponse spaces its JSON out)."""
    return (first.status, first.headers, first.json()) == (second.status, second.headers, second.json())


def test_it_refuses_a_body_that_is_not_json(external_app, front):
    answer = front_call(front, "POST", "/api/v1/provision", b"{not json")
    assert (answer.status, answer.json()) == (
        400,
        {"error": {"code": "invalid_json", "message": "The request body is not valid JSON."}},
    )


def test_it_refuses_a_body_over_the_phone_limit_without_reading_it_all(external_app, front):
    answer = front_call(front, "POST", "/api/v1/codes/parse", json.dumps({"code": "x" * 70_000}).encode())
    assert (answer.status, answer.json()["error"]["code"]) == (413, "payload_too_large")


def test_it_parses_codes_exactly_as_django_does(db, front):
    sent = json.dumps({"code": "scsc:alice:pw:AcmeInc"}).encode()
    from_django = django_call(WSGIHandler(), "POST", "/api/v1/codes/parse", sent)
    from_front = front_call(front, "POST", "/api/v1/codes/parse", sent)
    assert from_front == from_django
    assert from_front.json()["username"] == "alice"


def concurrently(front: Front, *protos: Proto) -> None:
    """Several requests through the front at once, on one loop (blocking work on this thread)."""

    async def all_of() -> None:
        scope = Scope("POST", "/api/v1/provision", Headers([("host", "testserver")]))
        await asyncio.gather(*(front.__rsgi__(scope, proto) for proto in protos))

    with connections_kept_for_the_test(), blocking_on_caller_thread():
        async_to_sync(all_of)()


def test_past_the_apps_bound_a_phone_is_told_at_once_that_its_provider_is_busy(external_app, provider, front):
    external_app.max_calls_in_flight = 1
    external_app.save()
    provider.behaviour = answer_slowly(1.0)
    busy_before = UPSTREAM.labels("provider_busy")._value.get()
    waiting, refused = Proto(body(deviceId="dev-1")), Proto(body(deviceId="dev-2"))

    concurrently(front, waiting, refused)

    assert waiting.status == 200
    assert refused.status == 503
    assert dict(refused.headers)["Retry-After"] == "5"
    assert json.loads(refused.sent)["error"]["code"] == "provider_busy"
    assert len(provider.requests) == 1
    assert UPSTREAM.labels("provider_busy")._value.get() == busy_before + 1
    logged = ProvisioningLogEntry.objects.get(device_id="dev-2")
    assert (logged.outcome, logged.error_code) == ("failed", "provider_busy")


class Disconnecting(Proto):
    """A phone that hangs up after `after` seconds."""

    def __init__(self, sent: bytes, after: float) -> None:
        super().__init__(sent)
        self.after = after

    async def client_disconnect(self) -> None:
        await asyncio.sleep(self.after)


def test_a_phone_that_disconnects_cancels_its_upstream_call_and_the_log_says_so(
    external_app, provider, front
):
    provider.behaviour = answer_slowly(3.0)
    phone = Disconnecting(body(), after=0.2)
    started = time.monotonic()

    concurrently(front, phone)

    assert time.monotonic() - started < 2.0
    assert phone.status is None  # nobody left to answer
    assert len(provider.requests) == 1
    logged = ProvisioningLogEntry.objects.get()
    assert (logged.outcome, logged.error_code) == ("cancelled", "client_disconnected")
    assert logged.detail == "the phone disconnected before its provider answered; the call was cancelled"


def test_it_answers_the_linphone_addresses_exactly_as_django_does(app, spy, front):
    from sessioncloud.providers.tokens import issue_token
    from tests.factories import make_end_user

    first = issue_token(make_end_user(app, "alice")).plain
    second = issue_token(make_end_user(app, "bob", sip_username="2002")).plain
    from_django = django_call(WSGIHandler(), "GET", f"/api/v1/linphone/{first}")
    from_front = front_call(front, "GET", f"/api/v1/linphone/{second}")
    assert spy.calls == 0
    assert (from_front.status, from_front.headers) == (from_django.status, from_django.headers)
    assert b'<entry name="username" overwrite="true">2002</entry>' in from_front.body
    app_level = front_call(front, "GET", "/api/v1/providers/AcmeInc/linphone")
    assert app_level == django_call(WSGIHandler(), "GET", "/api/v1/providers/AcmeInc/linphone")
    assert spy.calls == 0
