from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from sessioncloud.lib.jsonlog import RedactSecrets

pytestmark = pytest.mark.django_db


def test_healthz_says_the_process_is_alive():
    response = Client().get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_checks_the_database_and_cache():
    response = Client().get("/readyz")
    assert (response.status_code, response.json()) == (
        200,
        {"status": "ok", "checks": {"database": True, "cache": True}},
    )


def test_metrics_want_the_token_when_one_is_set(settings):
    settings.METRICS_TOKEN = "scrape-s3cret"
    refused = Client().get("/metrics")
    assert (refused.status_code, refused["WWW-Authenticate"]) == (401, 'Bearer realm="metrics"')
    assert Client().get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert Client().get("/metrics", headers={"Authorization": "Bearer scrape-s3cret"}).status_code == 200


def test_without_a_token_production_shows_no_metrics(settings):
    settings.METRICS_TOKEN, settings.PRODUCTION = "", True
    assert Client().get("/metrics").status_code == 404


def test_without_a_token_the_default_shows_them_only_to_a_direct_local_client(settings):
    settings.METRICS_TOKEN = ""
    assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics").status_code == 404
    assert Client().get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404
    assert Client(REMOTE_ADDR="::1").get("/metrics").status_code == 200


def test_metrics_count_requests_per_endpoint(app):
    Client().get("/api/v1/providers/AcmeInc/config")
    text = Client().get("/metrics").content.decode()
    assert (
        'sessioncloud_http_requests_total{endpoint="api:provider_config",method="GET",status="2xx"}' in text
    )
    assert "sessioncloud_http_request_seconds_bucket" in text


def test_log_lines_are_json_and_secrets_are_masked():
    from pythonjsonlogger.json import JsonFormatter

    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "calling %s", ("https://p.example/?password=hunter2",), None
    )
    record.auth_header = "Bearer s3cret"
    RedactSecrets().filter(record)
    line = JsonFormatter("%(message)s").format(record)
    data = json.loads(line)
    assert data["message"] == "calling https://p.example/?password=***"
    assert data["auth_header"] == "***"
    assert "hunter2" not in line and "s3cret" not in line
