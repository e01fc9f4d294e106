from __future__ import annotations

import json
import os
from urllib.request import Request, urlopen

import pytest

from sessioncloud.accounts.models import ApiKey
from tests.factories import make_app
from tests.livesrv import running_server

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="several processes share state through Redis"),
]


def get_json(url: str) -> dict:
    with urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        return json.load(response)


def patch_json(url: str, key: str, body: dict) -> dict:
    request = Request(url, data=json.dumps(body).encode(), method="PATCH",  # noqa: S310
                      headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urlopen(request, timeout=5) as response:  # noqa: S310
        return json.load(response)


def test_a_change_through_one_process_is_seen_by_another_at_once(org):
    make_app(org, "MultiInc")
    _, key = ApiKey.issue(org, "multi")
    with running_server() as first, running_server() as second:
        config = "/api/v1/providers/MultiInc/config"
        assert get_json(second + config)["name"] == "Acme Telecom"  # now cached in Redis
        patch_json(first + "/api/v1/manage/apps/MultiInc", key, {"name": "Renamed Telecom"})
        assert get_json(second + config)["name"] == "Renamed Telecom"
        assert get_json(first + config)["name"] == "Renamed Telecom"
