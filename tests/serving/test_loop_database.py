"""The embedded database's provisioning statements on the event loop: never a wait on the loop,
the phone pool whenever the loop's connection would have to wait, the same rows either way."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from sessioncloud.providers import provision
from sessioncloud.providers.config import forget_config
from sessioncloud.providers.ledger import DeviceVisit, LogLine, record_call
from sessioncloud.providers.lookup import enabled_app_and_device
from sessioncloud.providers.models import Device, ProvisioningLogEntry
from sessioncloud.providers.statements import NotNow, running_on_loop
from sessioncloud.serving import pools
from tests.factories import make_app

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def loop_database() -> Iterator[None]:
    pools.start_pools(2)
    pools.start_loop_database()
    try:
        yield
    finally:
        pools.stop_loop_database()
        pools.stop_pools()


def sqlite_only() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the loop has a connection of its own only with the embedded database")


def visit_and_line(device_id: str) -> tuple[DeviceVisit, LogLine]:
    visit = DeviceVisit(device_id, "alice", "ios", "6.0", None, "ok", accounts_hash="a" * 64)
    return visit, LogLine(device_id, "alice", "provision", "ok", accounts=1)


def run(function: Callable[[], Any]) -> tuple[Any, int]:
    """`function` through run_quick on a new loop: its result and the thread it ran on."""
    threads: list[int] = []

    def work() -> Any:
        threads.append(threading.get_ident())
        return function()

    async def main() -> Any:
        return await pools.run_quick(work)

    return asyncio.run(main()), threads[-1]


def test_a_call_runs_on_the_loop_and_its_rows_are_written_after_it(org, loop_database):
    sqlite_only()
    app = make_app(org, "LoopInc")

    def work() -> Any:
        found = enabled_app_and_device("loopinc", "dev-1")
        visit, line = visit_and_line("dev-1")
        record_call(app.pk, visit, line)
        return found, running_on_loop()

    (found, on_loop), thread = run(work)

    assert thread == threading.get_ident() and on_loop  # asyncio.run's loop is this thread
    assert found is not None and found[0].pk == app.pk
    assert Device.objects.get(app=app, device_id="dev-1").accounts_hash == "a" * 64
    assert ProvisioningLogEntry.objects.filter(app=app, device_id="dev-1").count() == 1


def test_a_write_that_would_wait_goes_to_the_pool_and_the_loop_runs_on_meanwhile(org, loop_database):
    sqlite_only()
    app = make_app(org, "LockInc")
    other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process writing
    released = threading.Timer(0.5, other.execute, ["COMMIT"])

    async def main() -> tuple[int, float]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.ensure_future(tick())
        visit, line = visit_and_line("dev-2")
        started = time.monotonic()
        released.start()
        await pools.run_quick(record_call, app.pk, visit, line)
        ticker.cancel()
        return ticks, time.monotonic() - started

    try:
        ticks, seconds = asyncio.run(main())
    finally:
        released.join()
        other.close()

    assert seconds >= 0.4  # written once the other writer had finished, in the pool
    assert ticks >= 10  # the loop went on meanwhile
    assert ProvisioningLogEntry.objects.filter(app=app, device_id="dev-2").count() == 1


def test_work_that_cannot_go_on_here_runs_again_in_the_pool_without_its_first_writes(org, loop_database):
    sqlite_only()
    app = make_app(org, "AgainInc")
    tries: list[bool] = []

    def work() -> str:
        visit, line = visit_and_line("dev-3")
        record_call(app.pk, visit, line)
        tries.append(running_on_loop())
        if running_on_loop():
            raise NotNow
        return "done"

    result, thread = run(work)

    assert (result, tries) == ("done", [True, False])
    assert thread != threading.get_ident()  # a phone-pool thread
    assert ProvisioningLogEntry.objects.filter(app=app, device_id="dev-3").count() == 1


def test_a_config_not_held_in_memory_sends_the_work_to_the_pool(org, loop_database):
    sqlite_only()
    app = make_app(org, "FreshInc")
    forget_config("FreshInc")  # nothing of it held in this process

    def version() -> str:
        return provision.config_version(app)

    first, first_thread = run(version)
    second, second_thread = run(version)

    assert first == second
    assert first_thread != threading.get_ident()  # rendered in the pool
    assert second_thread == threading.get_ident()  # from memory, on the loop


def test_every_so_many_writes_on_the_loop_a_checkpoint_runs_in_the_pool(org, loop_database, monkeypatch):
    sqlite_only()
    app = make_app(org, "WalInc")
    checkpoints: list[int] = []
    monkeypatch.setattr(pools, "CHECKPOINT_EVERY", 3)
    monkeypatch.setattr(pools, "_writes_since_checkpoint", 0)
    monkeypatch.setattr(pools, "_checkpoint", lambda: checkpoints.append(threading.get_ident()))

    async def main() -> None:
        for n in range(7):
            visit, line = visit_and_line(f"dev-w{n}")
            await pools.run_quick(record_call, app.pk, visit, line)
        await asyncio.gather(*pools._checkpoints)

    asyncio.run(main())

    assert len(checkpoints) == 2 and threading.get_ident() not in checkpoints
    assert ProvisioningLogEntry.objects.filter(app=app).count() == 7


def test_with_another_database_everything_runs_in_the_pool(org, loop_database):
    if connection.vendor == "sqlite":
        pytest.skip("the other databases' pass")
    _, thread = run(running_on_loop)
    assert thread != threading.get_ident()


def test_a_burst_of_one_apps_work_takes_turns_with_another_apps_on_the_loop():
    ran: list[str] = []

    async def piece(turns: pools.LoopTurns, key: str) -> None:
        await turns.turn(key)
        ran.append(key)

    async def main() -> None:
        turns = pools.LoopTurns(asyncio.get_running_loop())
        burst = [asyncio.ensure_future(piece(turns, "slow-app")) for _ in range(100)]
        await asyncio.sleep(0)  # the burst has arrived: a few ran, the rest wait their turns
        gone = asyncio.ensure_future(piece(turns, "went-away"))
        other = asyncio.ensure_future(piece(turns, "other-app"))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.gather(*burst, other)

    asyncio.run(main())

    assert len(ran) == 101 and "went-away" not in ran
    assert ran[: pools.LoopTurns.PER_ITERATION] == ["slow-app"] * pools.LoopTurns.PER_ITERATION
    assert ran.index("other-app") <= 3 * pools.LoopTurns.PER_ITERATION  # a turn or two, not after 100


def test_the_write_ahead_log_starts_again_instead_of_growing(org, loop_database, monkeypatch):
    sqlite_only()
    app = make_app(org, "GrowInc")
    monkeypatch.setattr(pools, "CHECKPOINT_EVERY", 20)
    monkeypatch.setattr(pools, "_writes_since_checkpoint", 0)
    wal = Path(connection.settings_dict["NAME"] + "-wal")

    async def write(count: int, start: int) -> None:
        for n in range(start, start + count):
            visit, line = visit_and_line(f"dev-g{n}")
            await pools.run_quick(record_call, app.pk, visit, line)
        await asyncio.gather(*pools._checkpoints)

    asyncio.run(write(60, 0))
    after_a_few = wal.stat().st_size
    asyncio.run(write(240, 60))

    assert ProvisioningLogEntry.objects.filter(app=app).count() == 300
    assert wal.stat().st_size <= after_a_few * 1.5  # 5 times the rows, the same log reused
