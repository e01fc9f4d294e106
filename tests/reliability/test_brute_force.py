"""Brute force: guessing portal passwords, reset addresses, provisioning logins and setup tokens.

Every guessable door is throttled, and its answers are the same whether the account, user or
token exists, before and after the throttle starts. With Redis the limits hold across app
processes: alternating between two servers buys an attacker nothing.
"""

from __future__ import annotations

import json
import os
import re
import time
from http.cookiejar import CookieJar
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, Request, build_opener

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import User
from django.test import Client

from sessioncloud.providers.models import SetupToken
from sessioncloud.providers.tokens import issue_token
from tests.factories import make_app, make_end_user
from tests.providerstub import ProviderStub, StubHandler, start_stub, stop_stub
from tests.reliability import figures
from tests.reliability.processes import server_process

PASSWORD = "correct-horse-battery-staple"
WRONG = "The email address and/or password you specified are not correct."
LOCKED = "Too many failed login attempts. Try again later."
KEY_LIMIT = 5  # ACCOUNT_RATE_LIMITS["login_failed"] and ["reset_password"]: 5 per key

redis_only = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="several processes share limits through Redis"
)


@pytest.fixture
def known_user(db: Any, settings: Any) -> User:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed, not security
    user = User.objects.create_user(username="known", email="known@acme.example", password=PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def login_errors(response: Any) -> tuple[int, list[str]]:
    form = response.context["form"] if response.context and "form" in response.context else None
    return response.status_code, list(form.non_field_errors()) if form is not None else []


def test_login_failures_look_the_same_for_known_and_unknown_addresses_until_and_after_the_lockout(known_user):
    client = Client()
    answers: dict[str, list[Any]] = {"known@acme.example": [], "nobody@acme.example": []}
    for _ in range(KEY_LIMIT + 2):
        for email in answers:
            answers[email].append(
                login_errors(client.post("/accounts/login/", {"login": email, "password": "guess"}))
            )

    expected = [(200, [WRONG])] * KEY_LIMIT + [(200, [LOCKED])] * 2
    figures.record(
        "brute force",
        2,
        int(answers["known@acme.example"] == expected) + int(answers["nobody@acme.example"] == expected),
    )
    assert answers == {"known@acme.example": expected, "nobody@acme.example": expected}


def test_the_right_password_during_a_lockout_is_refused_like_a_wrong_one(known_user):
    client = Client()
    for _ in range(KEY_LIMIT):
        client.post("/accounts/login/", {"login": "known@acme.example", "password": "guess"})

    right = client.post("/accounts/login/", {"login": "known@acme.example", "password": PASSWORD})

    figures.case("brute force", login_errors(right) == (200, [LOCKED]))
    assert login_errors(right) == (200, [LOCKED])
    assert "_auth_user_id" not in client.session


def test_varying_the_host_header_does_not_buy_more_guesses(known_user):
    # Any port passes ALLOWED_HOSTS, and a client chooses its Host header freely.
    answers = [
        login_errors(
            Client().post(
                "/accounts/login/",
                {"login": "known@acme.example", "password": "guess"},
                HTTP_HOST=f"testserver:{1000 + n}",
                REMOTE_ADDR=f"192.0.2.{n + 1}",
            )
        )
        for n in range(KEY_LIMIT + 1)
    ]
    resets = [
        Client()
        .post(
            "/accounts/password/reset/",
            {"email": "known@acme.example"},
            HTTP_HOST=f"testserver:{1000 + n}",
            REMOTE_ADDR=f"192.0.2.{n + 1}",
        )
        .status_code
        for n in range(KEY_LIMIT + 1)
    ]

    figures.record("brute force", 2, int(answers[-1] == (200, [LOCKED])) + int(resets[-1] == 429))
    assert answers == [(200, [WRONG])] * KEY_LIMIT + [(200, [LOCKED])]
    assert resets == [302] * KEY_LIMIT + [429]


def test_login_failures_from_one_address_are_throttled_whatever_the_account(known_user):
    client = Client()
    answers = [
        login_errors(client.post("/accounts/login/", {"login": f"user{n}@acme.example", "password": "guess"}))
        for n in range(11)
    ]
    figures.case("brute force", answers == [(200, [WRONG])] * 10 + [(200, [LOCKED])])
    assert answers == [(200, [WRONG])] * 10 + [(200, [LOCKED])]  # login_failed: 10/m/ip


def test_behind_a_trusted_proxy_each_client_address_has_its_own_login_limit(known_user, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    client = Client()

    def attempt(n: int, address: str) -> tuple[int, list[str]]:
        return login_errors(
            client.post(
                "/accounts/login/",
                {"login": f"user{n}@acme.example", "password": "guess"},
                headers={"X-Forwarded-For": address},
            )
        )

    first = [attempt(n, "198.51.100.7") for n in range(11)]
    other = attempt(99, "203.0.113.9")

    assert (first[-1], other) == ((200, [LOCKED]), (200, [WRONG]))


def test_password_reset_answers_the_same_for_known_and_unknown_addresses_and_is_throttled(
    known_user, mailoutbox
):
    client = Client()
    answers: dict[str, list[Any]] = {"known@acme.example": [], "nobody@acme.example": []}
    for _ in range(KEY_LIMIT + 1):
        for email in answers:
            response = client.post("/accounts/password/reset/", {"email": email})
            answers[email].append((response.status_code, response.get("Location")))

    expected = [(302, "/accounts/password/reset/done/")] * KEY_LIMIT + [(429, None)]
    figures.record("brute force", 2, sum(answers[e] == expected for e in answers))
    assert answers == {"known@acme.example": expected, "nobody@acme.example": expected}
    # Both addresses got mail (a reset link, or "no account here"), so the mailbox tells nothing either.
    assert sorted({m.to[0] for m in mailoutbox}) == ["known@acme.example", "nobody@acme.example"]


# --- provisioning and setup tokens ---------------------------------------------------------------


def only_1000_with_1234(handler: StubHandler) -> None:
    """A provider that knows user 1000 (password 1234) and rejects everyone else the same way."""
    query = dict(part.split("=", 1) for part in handler.path.split("?", 1)[1].split("&"))
    known = query["username"] == "1000" and query["password"] == "1234"
    accounts = [{"sipusername": "1000", "sippassword": "sip-pw"}] if known else []
    body = json.dumps(
        {"update": True, "errmsg": "" if known else "Wrong account number or PIN.", "sipaccounts": accounts}
    ).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def provider() -> Any:
    stub = start_stub()
    stub.behaviour = only_1000_with_1234
    yield stub
    stop_stub(stub)


@pytest.fixture
def external(org: Any, provider: ProviderStub, loopback_allowed: None) -> Any:
    return make_app(org, "ExtInc", provisioning_mode="external", provisioning_url=provider.url())


def provision(
    client: Any, username: str, password: str, address: str = "192.0.2.10"
) -> tuple[int, Any, str | None]:
    response = client.post(
        "/api/v1/provision",
        json.dumps({"providerId": "ExtInc", "username": username, "password": password, "deviceId": "d1"}),
        content_type="application/json",
        REMOTE_ADDR=address,
    )
    body = response.json()
    return (
        response.status_code,
        body.get("error", {}).get("code") or body.get("errmsg"),
        response.get("Retry-After"),
    )


def test_password_guessing_per_provisioning_user_is_throttled_the_same_for_real_and_unknown_users(
    external, provider, settings
):
    settings.RATE_LIMITS = "provision_user=3/h"
    client = Client()
    guesses = {
        username: [provision(client, username, f"guess{n}")[:2] for n in range(5)]
        for username in ("1000", "9999")
    }

    rejected = (200, "Wrong account number or PIN.")
    throttled = (429, "rate_limited")
    expected = [rejected] * 3 + [throttled] * 2
    figures.record("brute force", 2, sum(guesses[u] == expected for u in guesses))
    assert guesses == {"1000": expected, "9999": expected}
    assert len(provider.requests) == 6  # throttled guesses never reach the provider
    # Even the right password is throttled, so a lockout tells nothing about the guess.
    assert provision(client, "1000", "1234")[:2] == throttled
    assert 1 <= int(provision(client, "1000", "1234")[2] or 0) <= 3600


def test_provisioning_from_one_address_is_throttled_across_usernames(external, provider, settings):
    settings.RATE_LIMITS = "provision_ip=4/h"
    client = Client()

    from_one = [provision(client, str(2000 + n), "guess")[0] for n in range(6)]
    from_another = provision(client, "3000", "guess", address="192.0.2.99")[0]

    figures.case("brute force", (from_one, from_another) == ([200] * 4 + [429] * 2, 200))
    assert (from_one, from_another) == ([200] * 4 + [429] * 2, 200)


def test_requests_for_no_provider_count_against_the_address_like_any_other(external, provider, settings):
    # A flood of made-up ProviderIds, or of usernames without one, is limited like real calls.
    settings.RATE_LIMITS = "provision_ip=4/h"
    client = Client()

    def answer(body: dict[str, Any]) -> tuple[int, str]:
        response = client.post(
            "/api/v1/provision",
            json.dumps({"password": "guess", "deviceId": "d1", **body}),
            content_type="application/json",
            REMOTE_ADDR="192.0.2.20",
        )
        return response.status_code, response.json()["error"]["code"]

    unknown = [answer({"providerId": f"Nobody{n}", "username": "1000"}) for n in range(2)]
    malformed = [answer({"username": "1000"}) for _ in range(2)]
    then = [
        answer({"providerId": "Nobody", "username": "1000"}),
        answer({"providerId": "ExtInc", "username": "1"}),
    ]

    assert unknown == [(404, "provider_not_found")] * 2
    assert malformed == [(422, "invalid_request")] * 2
    assert then == [(429, "rate_limited")] * 2
    assert provider.requests == []


def redeem(client: Any, token: str, address: str = "192.0.2.10") -> tuple[int, str | None]:
    response = client.post(
        "/api/v1/tokens/redeem",
        json.dumps({"token": token, "deviceId": "guesser"}),
        content_type="application/json",
        REMOTE_ADDR=address,
    )
    return response.status_code, response.json().get("error", {}).get("code")


def test_token_guessing_is_throttled_and_a_throttled_real_token_is_not_used_up(app, settings):
    settings.RATE_LIMITS = "redeem_ip=5/h"
    real = issue_token(make_end_user(app, "alice"))
    client = Client()

    guesses = [redeem(client, f"guess-{n:04d}-abcdefghijklmnopqrstuvwxyz") for n in range(5)]
    throttled_real = redeem(client, real.plain)

    figures.case(
        "brute force", guesses == [(404, "token_invalid")] * 5 and throttled_real == (429, "rate_limited")
    )
    assert guesses == [(404, "token_invalid")] * 5
    assert throttled_real == (429, "rate_limited")
    assert SetupToken.objects.get(pk=real.token.pk).uses == 0
    assert redeem(client, real.plain, address="192.0.2.77") == (200, None)


# --- across processes (Redis) ------------------------------------------------------------------


def post_json(base: str, path: str, body: dict) -> tuple[int, Any]:
    request = Request(
        base + path,
        data=json.dumps(body).encode(),
        method="POST",  # loopback
        headers={"Content-Type": "application/json"},
    )
    try:
        with build_opener().open(request, timeout=10) as response:
            return response.status, json.load(response)
    except HTTPError as error:
        return error.code, json.load(error)


class Browser:
    """Just enough of a browser for allauth's login form: cookies and the CSRF token."""

    def __init__(self) -> None:
        self.opener = build_opener(HTTPCookieProcessor(CookieJar()))

    def log_in(self, base: str, email: str, password: str) -> str:
        with self.opener.open(f"{base}/accounts/login/", timeout=10) as page:
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode())
        assert token is not None
        data = urlencode(
            {"csrfmiddlewaretoken": token.group(1), "login": email, "password": password}
        ).encode()
        request = Request(
            f"{base}/accounts/login/",
            data=data,
            method="POST",  # loopback
            headers={"Referer": f"{base}/accounts/login/"},
        )
        try:
            with self.opener.open(request, timeout=10) as response:
                html = response.read().decode()
        except HTTPError as error:
            return f"HTTP {error.code}"
        return LOCKED if LOCKED in html else WRONG if WRONG in html else "other"


def same_window(seconds: int) -> bool:
    """False when a fixed rate-limit window is about to roll over (the test would straddle it)."""
    return time.time() % seconds < seconds - 20


@redis_only
@pytest.mark.django_db(transaction=True)
def test_limits_hold_across_processes(org, provider, known_user):
    if not same_window(3600):
        time.sleep(25)
    make_app(org, "ExtInc", provisioning_mode="external", provisioning_url=provider.url())
    app = make_app(org, "TokInc")
    real = issue_token(make_end_user(app, "alice"))
    env = {
        "SESSIONCLOUD_OUTBOUND_ALLOW_NETS": "127.0.0.0/8",
        "SESSIONCLOUD_OUTBOUND_ALLOW_HTTP": "true",
        "SESSIONCLOUD_RATE_LIMITS": "provision_user=4/h,redeem_ip=3/h",
    }
    with server_process(threads=4, **env) as first, server_process(threads=4, **env) as second:
        bases = [first.base, second.base] * 4
        provisioning = [
            post_json(
                base,
                "/api/v1/provision",
                {"providerId": "ExtInc", "username": "9999", "password": f"g{n}", "deviceId": "d"},
            )[0]
            for n, base in enumerate(bases[:6])
        ]
        redeeming = [
            post_json(
                base,
                "/api/v1/tokens/redeem",
                {"token": f"guess-{n:04d}-abcdefghijklmnopqrstuvwxyz", "deviceId": "d"},
            )[0]
            for n, base in enumerate(bases[:3])
        ]
        real_while_throttled = post_json(
            second.base, "/api/v1/tokens/redeem", {"token": real.plain, "deviceId": "d"}
        )
        browser = Browser()
        logins = [browser.log_in(base, "known@acme.example", "guess") for base in bases[: KEY_LIMIT + 1]]

    results = (provisioning, redeeming, real_while_throttled[0], logins)
    expected = ([200] * 4 + [429] * 2, [404] * 3, 429, [WRONG] * KEY_LIMIT + [LOCKED])
    figures.record(
        "brute force, across processes", 4, sum(a == b for a, b in zip(results, expected, strict=True))
    )
    assert results == expected
    assert SetupToken.objects.get(pk=real.token.pk).uses == 0
