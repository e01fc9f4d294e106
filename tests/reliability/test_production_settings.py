"""Production settings: `check --deploy` is clean, and a real server sends the security headers.

The production shape: SESSIONCLOUD_PRODUCTION=true, an https:// public URL, TLS ended by a
proxy that sets X-Forwarded-Proto. Then HSTS, secure cookies, CSP and frame denial are on, and
plain HTTP is redirected (except the health probes a load balancer sends inside the network).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import User
from django.test import Client

from tests.reliability import figures
from tests.reliability.processes import server_process

PUBLIC_HOST = "sessioncloud.example.com"
PRODUCTION = {
    "SESSIONCLOUD_PRODUCTION": "true",
    "SESSIONCLOUD_PUBLIC_URL": f"https://{PUBLIC_HOST}",
    "EMAIL_URL": "submission://mailer:pw@mail.example.com:587",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def clean_env(tmp_path: Path, **env: str) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SESSIONCLOUD_", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "PYTEST"))
    }
    return {**base, "SESSIONCLOUD_DATA_DIR": str(tmp_path), **env}


def run(tmp_path: Path, args: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], env=clean_env(tmp_path, **env), capture_output=True, text=True, timeout=120
    )


def directives(header: str) -> dict[str, str]:
    return {part.strip().split(" ", 1)[0]: part.strip() for part in header.split(";") if part.strip()}


def test_check_deploy_is_clean_in_production(tmp_path):
    from sessioncloud.lib.secretbox import generate_key

    (tmp_path / "secret_key").write_text("k" * 20 + "Z9-q" * 12)
    (tmp_path / "encryption_keys").write_text(generate_key())
    result = run(
        tmp_path,
        ["-m", "sessioncloud.cli", "check", "--deploy", "--fail-level", "WARNING"],
        SECRET_KEY_FILE=str(tmp_path / "secret_key"),
        SESSIONCLOUD_ENCRYPTION_KEYS_FILE=str(tmp_path / "encryption_keys"),
        **PRODUCTION,
    )

    figures.case("production settings", result.returncode == 0)
    assert (result.returncode, result.stdout.strip()) == (
        0,
        "System check identified no issues (1 silenced).",
    )


def test_the_login_limits_count_the_client_address_behind_the_proxy(tmp_path):
    script = (
        "import django; django.setup(); from allauth import app_settings; "
        "print(app_settings.TRUSTED_PROXY_COUNT)"
    )
    result = run(
        tmp_path,
        ["-c", script],
        DJANGO_SETTINGS_MODULE="sessioncloud.settings",
        SESSIONCLOUD_TRUSTED_PROXY_COUNT="2",
    )
    assert (result.returncode, result.stdout.strip()) == (0, "2")


def request(base: str, method: str, path: str, headers: dict[str, str], body: str | None = None) -> Any:
    host, port = base.removeprefix("http://").split(":")
    connection = HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


def cookie(response: Any, name: str) -> set[str]:
    for value in response.headers.get_all("Set-Cookie") or []:
        if value.startswith(f"{name}="):
            return {part.strip().split("=")[0].lower() for part in value.split(";")[1:]}
    return set()


@pytest.mark.django_db(transaction=True)
def test_a_production_server_behind_https_sends_every_security_header():
    user = User.objects.create_user(
        username="boss", email="boss@acme.example", password="a-long-pass-phrase-7"
    )
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    secure = {"Host": PUBLIC_HOST, "X-Forwarded-Proto": "https"}
    # The load balancer probes /healthz by address, so the operator allows it too.
    with server_process(
        threads=4, SESSIONCLOUD_ALLOWED_HOSTS=f"{PUBLIC_HOST},127.0.0.1", **PRODUCTION
    ) as server:
        page = request(server.base, "GET", "/accounts/login/", secure)
        token = re.search(r"csrftoken=([^;]+)", page.headers["Set-Cookie"])
        assert token is not None
        form = f"csrfmiddlewaretoken={token.group(1)}&login=boss%40acme.example&password=a-long-pass-phrase-7"
        login = request(
            server.base,
            "POST",
            "/accounts/login/",
            {
                **secure,
                "Cookie": f"csrftoken={token.group(1)}",
                "Referer": f"https://{PUBLIC_HOST}/accounts/login/",
                "Origin": f"https://{PUBLIC_HOST}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            form,
        )
        plain_page = request(server.base, "GET", "/accounts/login/", {"Host": PUBLIC_HOST})
        plain_probe = request(server.base, "GET", "/healthz", {"Host": PUBLIC_HOST})
        api = request(server.base, "GET", "/api/v1/providers/Nobody/config", secure)
        wrong_host = request(
            server.base, "GET", "/accounts/login/", {"Host": "evil.example", "X-Forwarded-Proto": "https"}
        )

    seen = {
        "status": page.status,
        "hsts": page.headers["Strict-Transport-Security"],
        "csp": directives(page.headers["Content-Security-Policy"]),
        "frames": page.headers["X-Frame-Options"],
        "nosniff": page.headers["X-Content-Type-Options"],
        "referrer": page.headers["Referrer-Policy"],
        "opener": page.headers["Cross-Origin-Opener-Policy"],
        "csrf cookie": cookie(page, "csrftoken"),
        "login": (login.status, login.headers["Location"]),
        "session cookie": cookie(login, "sessionid"),
        "plain http": (plain_page.status, plain_page.headers["Location"]),
        "plain probe": plain_probe.status,
        "api": (api.status, api.headers["X-Content-Type-Options"], api.headers["X-Frame-Options"]),
        "wrong host": wrong_host.status,
    }
    expected = {
        "status": 200,
        "hsts": "max-age=31536000; includeSubDomains",
        "csp": directives(CSP),
        "frames": "DENY",
        "nosniff": "nosniff",
        "referrer": "same-origin",
        "opener": "same-origin",
        "csrf cookie": {"expires", "max-age", "path", "samesite", "secure"},
        "login": (302, "/portal/"),
        "session cookie": {"httponly", "path", "samesite", "secure"},  # ends with the browser session
        "plain http": (301, f"https://{PUBLIC_HOST}/accounts/login/"),
        "plain probe": 200,
        "api": (404, "nosniff", "DENY"),
        "wrong host": 400,
    }
    figures.record("production settings", len(expected), sum(seen[k] == expected[k] for k in expected))
    assert seen == expected


def test_the_embedded_default_over_plain_http_sends_no_hsts_and_plain_cookies(db):
    response = Client().get("/accounts/login/")
    assert "Strict-Transport-Security" not in response
    assert response["X-Frame-Options"] == "DENY"
    assert directives(response["Content-Security-Policy"]) == directives(CSP)
    assert response.cookies["csrftoken"]["secure"] == ""


# --- no inline script anywhere, so the CSP needs no exception ---------------------------------

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
SCRIPT_URL = re.compile(r"""(href|src|action)\s*=\s*["']\s*javascript:""", re.IGNORECASE)


def script_problems(html: str) -> list[str]:
    return [pattern.pattern for pattern in (INLINE_SCRIPT, EVENT_HANDLER, SCRIPT_URL) if pattern.search(html)]


def test_no_page_needs_an_inline_script(db):
    from tests.reliability.test_tenant_isolation import PAGES, make_tenant, page_url

    tenant = make_tenant("acme", "AcmeInc", "Acme")
    anonymous = Client()
    pages = {
        path: anonymous.get(path).content.decode()
        for path in ("/accounts/login/", "/accounts/signup/", "/accounts/password/reset/")
    }
    client = Client()
    client.force_login(tenant.owner)
    for page in PAGES:
        response = client.get(page_url(page, tenant))
        if response.status_code == 200 and not response.streaming:  # a streamed download is no page
            pages[page.route] = response.content.decode()

    found = {path: problems for path, html in pages.items() if (problems := script_problems(html))}
    figures.record("production settings", len(pages), len(pages) - len(found))
    assert len(pages) >= 10
    assert found == {}


def test_the_inline_script_scan_finds_what_it_looks_for() -> None:
    assert script_problems('<script>alert(1)</script><a onclick="x()">') == [
        INLINE_SCRIPT.pattern,
        EVENT_HANDLER.pattern,
    ]
    assert script_problems('<a href="javascript:void(0)">') == [SCRIPT_URL.pattern]
    assert (
        script_problems(
            '<script src="/static/x.js" defer></script><script type="application/json">{}</script>'
        )
        == []
    )
