"""The front answers phone configs itself, exactly as Django's own route would."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client

from sessioncloud.lib.metrics import REQUEST_STATS
from sessioncloud.providers.config import config_cache, get_rendered_config, render_config
from sessioncloud.serving import headers
from sessioncloud.serving.front import Front
from tests.factories import make_app
from tests.serving.frontclient import Spy, django_call, front_call

pytestmark = pytest.mark.django_db

PATH = "/api/v1/providers/AcmeInc/config"


@pytest.fixture
def spy() -> Spy:
    return Spy()


@pytest.fixture
def front(spy: Spy) -> Front:
    return Front(spy, django_threads=1, phone_threads=1)


def test_it_answers_a_config_exactly_as_django_does(app, spy, front):
    from_django = django_call(WSGIHandler(), "GET", PATH)
    from_front = front_call(front, "GET", PATH)
    assert spy.calls == 0
    assert from_front == from_django
    assert from_front.status == 200
    assert from_front.headers["etag"] == render_config(app).etag


def test_it_answers_a_revalidation_exactly_as_django_does(app, spy, front):
    etag = front_call(front, "GET", PATH).headers["etag"]
    from_django = django_call(WSGIHandler(), "GET", PATH, if_none_match=etag)
    from_front = front_call(front, "GET", PATH, if_none_match=etag)
    assert spy.calls == 0
    assert from_front == from_django
    assert (from_front.status, from_front.body) == (304, b"")


def test_it_answers_a_stale_etag_with_the_current_config(app, front):
    answer = front_call(front, "GET", PATH, if_none_match='"stale"')
    assert (answer.status, answer.body) == (200, render_config(app).body)


def test_it_answers_an_unknown_provider_exactly_as_django_does(db, spy, front):
    from_django = django_call(WSGIHandler(), "GET", "/api/v1/providers/Nobody/config")
    from_front = front_call(front, "GET", "/api/v1/providers/Nobody/config")
    assert spy.calls == 0
    assert from_front == from_django
    assert from_front.json() == {
        "error": {"code": "provider_not_found", "message": "No provider is known by that ProviderId."}
    }


@pytest.mark.parametrize("provider_id", ["Acme-Inc", "ab", "A" * 33, "1Acme"])
def test_it_answers_a_malformed_provider_id_as_unknown(db, spy, front, provider_id):
    answer = front_call(front, "GET", f"/api/v1/providers/{provider_id}/config")
    assert (answer.status, answer.json()["error"]["code"], spy.calls) == (404, "provider_not_found", 0)


def test_a_config_not_in_memory_yet_is_rendered_without_django(app, spy, front, django_assert_num_queries):
    assert front_call(front, "GET", PATH).status == 200
    with django_assert_num_queries(0):
        assert front_call(front, "GET", PATH).status == 200
    assert spy.calls == 0


def test_it_sees_a_save_on_the_next_request(app, front, django_assert_num_queries):
    front_call(front, "GET", PATH)
    app.theme_color = "#112233"
    app.save()
    assert b'"themeColor":"#112233"' in front_call(front, "GET", PATH).body
    with django_assert_num_queries(0):
        assert b'"themeColor":"#112233"' in front_call(front, "GET", PATH).body


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", PATH),
        ("HEAD", PATH),
        ("GET", "/api/v1/providers/AcmeInc/config/"),
        ("GET", "/api/v1/providers/AcmeInc/other"),
        ("GET", "/readyz"),
        ("GET", "/portal/"),
    ],
)
def test_it_leaves_every_other_request_to_django(app, spy, front, method, path):
    front_call(front, method, path)
    assert spy.calls == 1


def test_it_answers_health_checks_itself(db, spy, front):
    answer = front_call(front, "GET", "/healthz")
    assert (answer.status, answer.json(), spy.calls) == (200, {"status": "ok"}, 0)


def test_it_leaves_hosts_django_refuses_to_django(app, spy, front, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    assert front_call(front, "GET", PATH).status == 200
    assert spy.calls == 0
    assert front_call(front, "GET", PATH, host="evil.example").status == 400
    assert spy.calls == 1


def test_a_host_judged_once_is_judged_the_same_again_until_the_setting_changes(app, spy, front, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    statuses = [
        front_call(front, "GET", PATH, host=host).status for host in ["evil.example", "testserver"] * 2
    ]
    assert (statuses, spy.calls) == ([400, 200, 400, 200], 2)

    settings.ALLOWED_HOSTS = ["evil.example"]
    assert front_call(front, "GET", PATH, host="evil.example").status == 200
    assert front_call(front, "GET", PATH, host="testserver").status == 400


def test_a_flood_of_made_up_hosts_is_refused_and_a_real_one_still_served(app, spy, front, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    made_up = [f"guess-{n}.example" for n in range(headers.MAX_HOSTS_REMEMBERED * 2 + 1)]
    assert {front_call(front, "GET", PATH, host=host).status for host in made_up} == {400}
    assert front_call(front, "GET", PATH, host="testserver").status == 200


def test_it_counts_its_answers_in_the_metrics(app, front):
    before = REQUEST_STATS.requests("api:provider_config", "GET", "2xx")
    front_call(front, "GET", PATH)
    assert REQUEST_STATS.requests("api:provider_config", "GET", "2xx") == before + 1


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
    spy = Spy(https_django)
    answer = front_call(Front(spy, django_threads=1, phone_threads=1), "GET", PATH)
    assert (answer.status, answer.headers["location"]) == (
        301,
        "https://testserver/api/v1/providers/AcmeInc/config",
    )
    assert spy.calls == 1


def test_it_answers_https_requests_exactly_as_django_does(app, https_django):
    spy = Spy(https_django)
    from_django = django_call(https_django, "GET", PATH, x_forwarded_proto="https")
    from_front = front_call(
        Front(spy, django_threads=1, phone_threads=1), "GET", PATH, x_forwarded_proto="https"
    )
    assert spy.calls == 0
    assert from_front == from_django
    assert from_front.headers["strict-transport-security"].startswith("max-age=31536000")


class SetsACookie:
    """A middleware that gives every answer per-request state."""

    def __init__(self, get_response: Any):
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        response = self.get_response(request)
        response.set_cookie("seen", "1")
        return response


def test_it_leaves_answers_with_per_request_state_to_django(app, spy, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.serving.test_front_config.SetsACookie"]
    assert front_call(Front(spy, django_threads=1, phone_threads=1), "GET", PATH).status == 200
    assert spy.calls == 1
