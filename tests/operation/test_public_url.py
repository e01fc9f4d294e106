"""The public URL follows the demo's port, and `serve` warns when it names another one."""

from __future__ import annotations

import io
from typing import Any

import pytest

from sessioncloud import demo_runner, server
from sessioncloud.lib.publicurl import demo_public_url, port_mismatch, warn_on_port_mismatch


def test_the_demo_public_url_names_the_port_it_serves_on():
    assert demo_public_url("127.0.0.1", 8200) == "http://127.0.0.1:8200"


def test_a_demo_on_every_address_is_browsed_on_loopback():
    assert demo_public_url("0.0.0.0", 8200) == "http://127.0.0.1:8200"


def test_a_demo_on_an_ipv6_address_gets_brackets():
    assert demo_public_url("::1", 8200) == "http://[::1]:8200"


def test_a_public_url_on_another_port_of_this_machine_is_a_mismatch():
    assert port_mismatch("http://127.0.0.1:8000", "127.0.0.1", 8200) == (
        "SESSIONCLOUD_PUBLIC_URL is http://127.0.0.1:8000, but this server listens on port 8200: phones "
        "would get logo URLs, and end users links, on port 8000, where nothing answers. Set "
        "SESSIONCLOUD_PUBLIC_URL=http://127.0.0.1:8200, or the address of the load balancer in front."
    )


def test_a_public_url_without_a_port_means_its_schemes_default():
    assert port_mismatch("http://localhost", "127.0.0.1", 80) is None


def test_a_public_url_on_the_same_port_is_no_mismatch():
    assert port_mismatch("http://127.0.0.1:8200/", "127.0.0.1", 8200) is None


def test_a_public_url_on_another_host_may_sit_behind_a_load_balancer():
    assert port_mismatch("https://phones.acme.example", "127.0.0.1", 8000) is None


def test_a_public_url_naming_the_bound_host_is_checked():
    assert port_mismatch("http://10.0.0.5:8000", "10.0.0.5", 9000) is not None


def test_the_warning_is_printed_once():
    out = io.StringIO()
    assert warn_on_port_mismatch("http://127.0.0.1:8000", "127.0.0.1", 8200, out) is True
    assert out.getvalue().startswith("Warning: SESSIONCLOUD_PUBLIC_URL is http://127.0.0.1:8000, but ")
    assert out.getvalue().count("\n") == 1


def test_serve_warns_before_it_starts_when_the_ports_differ(monkeypatch, settings, capsys):
    settings.PUBLIC_URL = "http://127.0.0.1:8000"
    for name in (
        "DATABASE_POOL_SIZE",
        "SESSIONCLOUD_CONFIG_LOCAL_TIER",
        "SESSIONCLOUD_DJANGO_THREADS",
        "SESSIONCLOUD_PHONE_THREADS",
    ):
        monkeypatch.delenv(name, raising=False)  # serve() sets them; restored after the test
    started: list[tuple[Any, ...]] = []
    monkeypatch.setattr(server, "run_granian", lambda *args: started.append(args))
    monkeypatch.setattr("sessioncloud.onboarding.runner.start_embedded_worker", lambda: None)
    assert server.serve(["--port", "8200", "--workers", "1"]) == 0
    assert started == [("127.0.0.1", 8200, 1)]
    assert (
        "Warning: SESSIONCLOUD_PUBLIC_URL is http://127.0.0.1:8000, but this server listens on port 8200"
        in capsys.readouterr().err
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "given, expected",
    [
        (None, "http://127.0.0.1:8200"),
        ("https://demo.acme.example", "https://demo.acme.example"),
    ],
)
def test_the_demo_serves_with_a_public_url_on_its_own_port_unless_one_is_given(monkeypatch, given, expected):
    for name in (
        "SESSIONCLOUD_OUTBOUND_ALLOW_NETS",
        "SESSIONCLOUD_OUTBOUND_ALLOW_HTTP",
        "SESSIONCLOUD_PUBLIC_URL",
    ):
        monkeypatch.delenv(name, raising=False)  # restored after the test
    if given:
        monkeypatch.setenv("SESSIONCLOUD_PUBLIC_URL", given)
    seen: list[str] = []
    monkeypatch.setattr(demo_runner, "start_example_provider", lambda secret: None)
    monkeypatch.setattr(
        server, "serve", lambda argv: seen.append(demo_runner.os.environ["SESSIONCLOUD_PUBLIC_URL"]) or 0
    )
    assert demo_runner.run_demo(["--port", "8200"]) == 0
    assert seen == [expected]
