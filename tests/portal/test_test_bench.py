"""The provisioning test bench: a real call to the provider's service, shown with secrets masked."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from ipaddress import ip_network
from typing import Any

import pytest
from django.test import Client

from sessioncloud.providers.models import App, ProvisioningLogEntry
from tests.factories import MEDIA_DEFAULTS
from tests.providerstub import ProviderStub, start_stub, stop_stub

pytestmark = pytest.mark.django_db

PAGE = "/portal/apps/AcmeInc/provisioning/test/"
GOOD_ANSWER = {
    "update": True,
    "errmsg": "",
    "sipaccounts": [
        {
            "sipusername": "1000",
            "sippassword": "sip-pw",
            "subdomain": "pbx1",
            "transport": "tcp",
            "video": True,
        }
    ],
}


@pytest.fixture
def provider(settings: Any) -> Iterator[ProviderStub]:
    settings.OUTBOUND_ALLOW_NETS = (ip_network("127.0.0.0/8"),)
    settings.OUTBOUND_ALLOW_HTTP = True
    stub = start_stub()
    yield stub
    stop_stub(stub)


@pytest.fixture
def external(app: App, provider: ProviderStub) -> App:
    app.provisioning_mode, app.provisioning_url = "external", provider.url()
    app.provisioning_auth_header = "Bearer upstream-s3cret"
    app.use_subdomains = True
    app.save()
    return app


def pre(content: str, element_id: str) -> str:
    return html.unescape(re.search(rf'<pre id="{element_id}">(.*?)</pre>', content, re.S).group(1))


@pytest.fixture
def good_answer(owner_client: Client, external: App, provider: ProviderStub) -> Any:
    """The test bench's page for a good answer of the provider's service."""
    provider.answer_json(GOOD_ANSWER)
    return owner_client.post(PAGE, {"username": "1000", "password": "p@ss&word"})


def merged(response: Any) -> dict[str, Any]:
    return json.loads(pre(response.content.decode(), "bench-merged"))


def test_the_bench_page_of_an_answer_is_never_cached(good_answer: Any) -> None:
    assert (good_answer.status_code, good_answer["Cache-Control"]) == (
        200,
        "max-age=0, no-cache, no-store, must-revalidate, private",
    )


def test_a_good_answer_shows_the_merged_accounts_exactly_as_a_phone_gets_them(good_answer: Any) -> None:
    assert merged(good_answer)["sipaccounts"] == [
        {
            "sipusername": "1000",
            "sippassword": "sip-pw",
            "authusername": "1000",
            "displayname": "1000",
            "domain": "pbx1.sip.acme.example",
            "port": 5060,
            "proxy": None,
            "transport": "TCP",
            "srtp": "Disabled",
            "messaging": "Enabled",
            "video": "Enabled",
            "callrecording": "Disabled",
            "subdomain": "pbx1",
            "voicemailNumber": None,
            "registrationExpires": 600,
            **MEDIA_DEFAULTS,
        }
    ]


def test_a_good_answer_shows_the_rest_of_what_a_phone_gets(good_answer: Any) -> None:
    shown = merged(good_answer)
    assert (shown["update"], shown["errmsg"], shown["xmppaccounts"]) == (True, "", [])


def test_a_good_answer_shows_its_outcome_and_status(good_answer: Any) -> None:
    content = good_answer.content.decode()
    assert '<span class="badge ok" id="bench-outcome">ok</span>' in content
    assert '<strong id="bench-status">200</strong>' in content


def test_a_good_answer_is_shown_as_received(good_answer: Any) -> None:
    assert json.loads(pre(good_answer.content.decode(), "bench-raw")) == GOOD_ANSWER


def test_the_request_is_shown_with_its_secrets_masked(good_answer: Any, provider: ProviderStub) -> None:
    content = good_answer.content.decode()
    assert pre(content, "bench-request") == (
        f"GET {provider.url()}?username=1000&password=***&reprovision=false&deviceId=test-bench\n"
        "Accept: application/json\nAccept-Encoding: identity\nAuthorization: ***\n"
        "User-Agent: SessionCloud/0.1.0\nX-SessionCloud-Signature: v1=***\n"
        "X-SessionCloud-Timestamp: <unix seconds>\n"
    )
    assert "p@ss" not in content and "upstream-s3cret" not in content


def test_the_providers_service_gets_the_real_password_and_auth_header(
    good_answer: Any, provider: ProviderStub
) -> None:
    [received] = provider.requests
    assert "password=p%40ss%26word" in received.path
    assert received.headers["Authorization"] == "Bearer upstream-s3cret"


def test_a_bench_call_is_logged_in_the_test_bench_flow(good_answer: Any) -> None:
    entry = ProvisioningLogEntry.objects.get()
    assert (entry.flow, entry.outcome, entry.username, entry.accounts) == ("test_bench", "ok", "1000", 1)


def test_a_bad_answer_shows_every_validation_error_and_the_raw_answer_escaped(
    owner_client, external, provider
):
    bad = {
        "update": "maybe",
        "sipaccounts": [{"sippassword": "x"}, {"sipusername": "<b>2</b>", "sippassword": 5}],
    }
    provider.answer_json(bad)
    content = owner_client.post(PAGE, {"username": "1000", "password": "1234"}).content.decode()
    assert '<span class="badge off" id="bench-outcome">failed</span>' in content
    assert '<code id="bench-error-code">provider_bad_response</code>' in content
    errors = re.search(r'<div class="alert error" id="bench-errors">(.*?)</div>', content, re.S).group(1)
    assert [html.unescape(e) for e in re.findall(r"<li>(.*?)</li>", errors)] == [
        'update: expected true, false, "true" or "false", got "maybe"',
        "sipaccounts[0].sipusername: missing",
        "sipaccounts[1].sippassword: Input should be a valid string",
    ]
    assert json.loads(pre(content, "bench-raw")) == bad
    assert "&quot;sipusername&quot;: &quot;&lt;b&gt;2&lt;/b&gt;&quot;" in content
    assert "<b>2</b>" not in content
    assert 'id="bench-merged"' not in content
    assert "Nothing: the phone would show an error and keep what it has." in content


def test_a_rejection_shows_the_providers_message(owner_client, external, provider):
    provider.answer_json({"update": False, "errmsg": "Wrong PIN <try again>", "sipaccounts": []})
    content = owner_client.post(PAGE, {"username": "1000", "password": "0000"}).content.decode()
    assert '<strong id="bench-errmsg">Wrong PIN &lt;try again&gt;</strong>' in content


def test_a_rejection_is_called_rejected_as_a_phones_call_would_be(owner_client, external, provider):
    provider.answer_json({"update": False, "errmsg": "Wrong PIN", "sipaccounts": []})
    content = owner_client.post(PAGE, {"username": "1000", "password": "0000"}).content.decode()
    assert '<span class="badge warn" id="bench-outcome">rejected</span>' in content
    assert "usable" not in content
    assert re.search(r'<p id="bench-verdict">(.*?)</p>', content).group(1) == (
        "Your service refused these credentials (no accounts): a phone would show its message and stay "
        "logged out. The provisioning log records such a call as rejected."
    )


def test_a_rejection_is_logged_as_rejected_with_the_providers_message(owner_client, external, provider):
    provider.answer_json({"update": False, "errmsg": "Wrong PIN", "sipaccounts": []})
    owner_client.post(PAGE, {"username": "1000", "password": "0000"})
    entry = ProvisioningLogEntry.objects.get()
    assert (entry.flow, entry.outcome, entry.error_code, entry.detail, entry.accounts) == (
        "test_bench",
        "rejected",
        "",
        "Wrong PIN",
        0,
    )


def test_an_accepted_login_says_how_many_accounts_a_phone_gets(owner_client, external, provider):
    provider.answer_json(GOOD_ANSWER)
    content = owner_client.post(PAGE, {"username": "1000", "password": "1234"}).content.decode()
    assert re.search(r'<p id="bench-verdict">(.*?)</p>', content).group(1) == (
        "Your service accepted these credentials: a phone would be set up with 1 account."
    )


def test_an_unreachable_service_shows_why(owner_client, external, provider):
    provider.answer(status=503, body=b"down for maintenance")
    content = owner_client.post(PAGE, {"username": "1000", "password": "1234"}).content.decode()
    assert '<span class="badge off" id="bench-outcome">failed</span>' in content
    assert '<code id="bench-error-code">provider_error</code>' in content
    assert pre(content, "bench-raw") == "down for maintenance"


def test_without_a_url_nothing_is_called(owner_client, app):
    response = owner_client.post(PAGE, {"username": "1000", "password": "1234"})
    assert response.context["form"].errors == {
        "__all__": ["Set the URL of your provisioning web service on the Provisioning page first."]
    }
    assert not ProvisioningLogEntry.objects.exists()


def test_a_viewer_sees_the_bench_but_cannot_run_it(viewer_client, external, provider):
    page = viewer_client.get(PAGE)
    assert page.status_code == 200
    content = page.content.decode()
    assert "Only owners and admins can run the test bench" in content
    assert "Run the test</button>" not in content
    response = viewer_client.post(PAGE, {"username": "1000", "password": "1234"})
    assert response.status_code == 403
    assert provider.requests == []
    assert not ProvisioningLogEntry.objects.exists()


def test_an_admin_may_run_it(admin_client, external, provider):
    provider.answer_json(GOOD_ANSWER)
    assert admin_client.post(PAGE, {"username": "1000", "password": "1234"}).status_code == 200
    assert len(provider.requests) == 1
