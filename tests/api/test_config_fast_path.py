"""The WSGI fast path for cached phone configs answers exactly as the Django view does."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client, RequestFactory

from sessioncloud.api.fastconfig import ConfigFastPath
from sessioncloud.api.metrics import REQUESTS
from sessioncloud.providers.config import config_cache, get_rendered_config, render_config
from sessioncloud.wsgi import django_application
from tests.factories import make_app

pytestmark = pytest.mark.django_db

PATH = "/api/v1/providers/AcmeInc/config"


class Spy:
    """Django's WSGI application, counting the requests that reach it."""

    def __init__(self, handler: Any = django_application) -> None:
        self.handler = handler
        self.calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.calls += 1
        return self.handler(environ, start_response)


def wsgi_call(app: Any, path: str = PATH, method: str = "GET", **headers: str) -> tuple[int, dict[str, str], bytes]:
    environ = getattr(RequestFactory(), method.lower())(path, **headers).environ
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer["status"] = int(status.split()[0])
        answer["headers"] = {name.lower(): value for name, value in response_headers}
        if "content-security-policy" in answer["headers"]:  # the same directives, in any order
            directives = answer["headers"]["content-security-policy"].split("; ")
            answer["headers"]["content-security-policy"] = "; ".join(sorted(directives))

    # As Django's test client does: the test's database connection must outlive the request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        result = app(environ, start_response)
        body = b"".join(result)
        getattr(result, "close", lambda: None)()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return answer["status"], answer["headers"], body


@pytest.fixture
def spy() -> Spy:
    return Spy()


def test_it_answers_a_cached_config_exactly_as_django_does(app, spy):
    from_django = wsgi_call(django_application)  # renders and caches
    from_fast_path = wsgi_call(ConfigFastPath(spy))
    assert spy.calls == 0
    assert from_fast_path == from_django
    assert from_fast_path[0] == 200
    assert from_fast_path[1]["etag"] == render_config(app).etag


def test_it_answers_a_revalidation_exactly_as_django_does(app, spy):
    etag = wsgi_call(django_application)[1]["etag"]
    from_django = wsgi_call(django_application, HTTP_IF_NONE_MATCH=etag)
    from_fast_path = wsgi_call(ConfigFastPath(spy), HTTP_IF_NONE_MATCH=etag)
    assert spy.calls == 0
    assert from_fast_path == from_django
    assert from_fast_path[0] == 304
    assert from_fast_path[2] == b""


def test_it_answers_a_stale_etag_with_the_current_config(app, spy):
    status, headers, body = wsgi_call(ConfigFastPath(spy), HTTP_IF_NONE_MATCH='"stale"')
    assert (status, spy.calls) == (200, 1)  # not cached yet: Django answered
    assert wsgi_call(ConfigFastPath(spy), HTTP_IF_NONE_MATCH='"stale"') == (status, headers, body)
    assert spy.calls == 1


def test_it_answers_a_cached_unknown_provider_exactly_as_django_does(db, spy):
    from_django = wsgi_call(django_application, "/api/v1/providers/Nobody/config")
    from_fast_path = wsgi_call(ConfigFastPath(spy), "/api/v1/providers/Nobody/config")
    assert spy.calls == 0
    assert from_fast_path == from_django
    assert from_fast_path[0] == 404


def test_it_leaves_configs_not_cached_yet_to_django(app, spy):
    fast_path = ConfigFastPath(spy)
    assert wsgi_call(fast_path)[0] == 200
    assert spy.calls == 1
    assert wsgi_call(fast_path)[0] == 200
    assert spy.calls == 1


def test_it_sees_a_save_on_the_next_request(app, spy, django_assert_num_queries):
    fast_path = ConfigFastPath(spy)
    wsgi_call(fast_path)
    app.theme_color = "#112233"
    app.save()
    assert b'"themeColor":"#112233"' in wsgi_call(fast_path)[2]
    with django_assert_num_queries(0):
        assert b'"themeColor":"#112233"' in wsgi_call(fast_path)[2]


@pytest.mark.parametrize(("method", "path"), [
    ("POST", PATH), ("HEAD", PATH), ("GET", "/api/v1/providers/AcmeInc/config/"),
    ("GET", "/api/v1/providers/Acme-Inc/config"), ("GET", "/healthz"),
])
def test_it_leaves_every_other_request_to_django(app, spy, method, path):
    get_rendered_config("AcmeInc")
    wsgi_call(ConfigFastPath(spy), path, method)
    assert spy.calls == 1


def test_it_leaves_hosts_django_refuses_to_django(app, spy, settings):
    settings.ALLOWED_HOSTS = ["sessioncloud.example"]
    get_rendered_config("AcmeInc")
    fast_path = ConfigFastPath(spy)
    assert wsgi_call(fast_path, HTTP_HOST="sessioncloud.example")[0] == 200
    assert spy.calls == 0
    assert wsgi_call(fast_path, HTTP_HOST="evil.example")[0] == 400
    assert spy.calls == 1


def test_it_counts_its_answers_in_the_metrics(app, spy):
    get_rendered_config("AcmeInc")
    counter = REQUESTS.labels("api:provider_config", "GET", "2xx")
    before = counter._value.get()
    wsgi_call(ConfigFastPath(spy))
    assert counter._value.get() == before + 1


def test_a_render_read_before_a_save_is_not_kept(org):
    app = make_app(org)
    generation = config_cache().generation("AcmeInc")
    old = render_config(app)  # as a request that read the row just before the save
    app.name = "Renamed Telecom"
    app.save()
    config_cache().store("AcmeInc", generation, old.version.encode() + b"\n" + old.body, 60)
    assert b'"name":"Renamed Telecom"' in get_rendered_config("AcmeInc").body


def test_it_answers_from_the_database_while_redis_is_unreachable(app, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    response = Client().get(PATH)
    assert response.status_code == 200
    assert response.content == render_config(app).body
    assert Client().get(PATH, headers={"If-None-Match": response["ETag"]}).status_code == 304


@pytest.fixture
def https_django(settings) -> WSGIHandler:
    """Django behind a TLS-terminating proxy, with its middleware built for these settings."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    return WSGIHandler()


def test_it_leaves_the_redirect_to_https_to_django(app, https_django):
    get_rendered_config("AcmeInc")
    spy = Spy(https_django)
    status, headers, _ = wsgi_call(ConfigFastPath(spy))
    assert (status, headers["location"]) == (301, "https://testserver/api/v1/providers/AcmeInc/config")
    assert spy.calls == 1


def test_it_answers_https_requests_exactly_as_django_does(app, https_django):
    spy = Spy(https_django)
    from_django = wsgi_call(https_django, HTTP_X_FORWARDED_PROTO="https")
    from_fast_path = wsgi_call(ConfigFastPath(spy), HTTP_X_FORWARDED_PROTO="https")
    assert spy.calls == 0
    assert from_fast_path == from_django
    assert from_fast_path[1]["strict-transport-security"].startswith("max-age=31536000")


class SetsACookie:
    """A middleware that gives every answer per-request state."""

    def __init__(self, get_response: Any):
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        response = self.get_response(request)
        response.set_cookie("seen", "1")
        return response


def test_it_leaves_answers_with_per_request_state_to_django(app, spy, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.api.test_config_fast_path.SetsACookie"]
    get_rendered_config("AcmeInc")
    assert wsgi_call(ConfigFastPath(spy))[0] == 200
    assert spy.calls == 1
