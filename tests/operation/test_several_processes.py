from __future__ import annotations

import json
import os
import subprocess
import time
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
import redis
from django.conf import settings

from sessioncloud.accounts.models import ApiKey
from sessioncloud.providers.config import entry_key
from sessioncloud.providers.models import App
from tests.factories import make_app
from tests.livesrv import running_server, running_server_process

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="several processes share state through Redis"),
]

# The in-process tier on, explicitly (whatever `sessioncloud serve` defaults to), with the default lease.
TIER = {"SESSIONCLOUD_CONFIG_LOCAL_TIER": "true"}
LEASE_SECONDS = 2.0


def get_json(url: str) -> dict:
    with urlopen(url, timeout=5) as response:  # loopback
        return json.load(response)


def get_config(url: str, etag: str | None = None) -> tuple[int, dict, str]:
    """Status, body (empty for a 304) and ETag."""
    request = Request(url, headers={"If-None-Match": etag} if etag else {})  # loopback
    try:
        with urlopen(request, timeout=5) as response:
            return response.status, json.load(response), response.headers["ETag"]
    except HTTPError as error:
        return error.code, {}, error.headers.get("ETag", "")


def patch_json(url: str, key: str, body: dict) -> dict:
    request = Request(
        url,
        data=json.dumps(body).encode(),
        method="PATCH",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urlopen(request, timeout=5) as response:
        return json.load(response)


def shared_entry_key(provider_id: str) -> str:
    return f"{settings.CACHES['default']['KEY_PREFIX']}:{entry_key(provider_id)}"


def test_a_change_through_one_process_is_seen_by_another_at_once(org):
    make_app(org, "MultiInc")
    _, key = ApiKey.issue(org, "multi")
    with running_server() as first, running_server() as second:
        config = "/api/v1/providers/MultiInc/config"
        assert get_json(second + config)["name"] == "Acme Telecom"  # now cached in Redis
        patch_json(first + "/api/v1/manage/apps/MultiInc", key, {"name": "Renamed Telecom"})
        assert get_json(second + config)["name"] == "Renamed Telecom"
        assert get_json(first + config)["name"] == "Renamed Telecom"


def test_with_configs_in_memory_every_process_answers_a_save_on_its_very_next_request(org):
    make_app(org, "TierInc")
    _, key = ApiKey.issue(org, "tier")
    shared = redis.Redis.from_url(os.environ["REDIS_URL"])
    config = "/api/v1/providers/TierInc/config"
    with running_server(**TIER) as first, running_server(**TIER) as second:
        servers = [first, second]
        for base in servers:
            get_config(base + config)  # each process takes its lease on its first config request
        time.sleep(0.5)
        answers = [get_config(base + config)[1] for base in servers for _ in range(2)]  # now kept in memory
        # The processes answer from their own memory: an entry changed behind their back in
        # Redis (with no invalidation) is not what they answer.
        assert shared.set(shared_entry_key("TierInc"), b"0" * 20 + b'\n{"name":"from Redis"}', xx=True, ex=60)
        assert [get_config(base + config)[1] for base in servers for _ in range(2)] == answers
        for round_ in range(25):
            name = f"Telecom {round_}"
            old = {base: get_config(base + config) for base in servers}  # in memory (again) in each
            assert {answer[1]["name"] for answer in old.values()} == {
                f"Telecom {round_ - 1}" if round_ else "Acme Telecom"
            }
            writer = servers[round_ % 2]
            patch_json(writer + "/api/v1/manage/apps/TierInc", key, {"name": name})
            for base in servers if round_ % 3 else reversed(servers):
                status, body, etag = get_config(base + config, old[base][2])  # revalidating the old version
                assert (status, body["name"]) == (200, name), (
                    f"round {round_}: {base} answered the old config"
                )
                assert etag != old[base][2]
                assert get_config(base + config, etag)[0] == 304


def test_a_save_outside_the_servers_is_seen_by_every_process_at_once(org):
    app = make_app(org, "OutsideInc")
    config = "/api/v1/providers/OutsideInc/config"
    with running_server(**TIER) as first, running_server(**TIER) as second:
        for round_ in range(10):
            for base in (first, second):
                get_config(base + config)
                get_config(base + config)
            app.name = f"Outside {round_}"
            app.save()  # in this test process, which answers nothing from memory but takes part
            assert [get_config(base + config)[1]["name"] for base in (first, second)] == [app.name] * 2
        App.objects.filter(pk=app.pk).delete()
        assert [get_config(base + config)[0] for base in (first, second)] == [404, 404]


def worker_pids(server_pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(server_pid)], capture_output=True, text=True, check=False).stdout
    return [int(pid) for pid in out.split()]


def test_a_killed_worker_delays_a_save_by_at_most_one_lease(org):
    app = make_app(org, "KilledInc")
    config = "/api/v1/providers/KilledInc/config"
    shared = redis.Redis.from_url(os.environ["REDIS_URL"])
    with running_server(**TIER) as first, running_server_process(**TIER) as (second, server):
        for base in (first, second):
            get_config(base + config)
        time.sleep(0.3)  # both hold a lease
        leases_before = set(
            shared.hkeys(
                f"{settings.CACHES['default']['KEY_PREFIX']}:cfgtier:"
                f"{shared.connection_pool.connection_kwargs.get('db', 0)}:leases"
            )
        )
        assert len(leases_before) >= 2  # one lease per worker
        workers = worker_pids(server.pid)
        assert workers
        for pid in workers:
            os.kill(pid, 9)  # no chance to deregister
        started = time.monotonic()
        app.name = "After The Kill"
        app.save()  # forgets now and on commit: waits for the dead worker's lease once at most
        took = time.monotonic() - started
        assert LEASE_SECONDS / 2 <= took <= LEASE_SECONDS + 0.5  # it did wait for the dead lease, once
        assert get_config(first + config)[1]["name"] == "After The Kill"
