"""The queue's tasks tidy their thread's database connection as a request does, except inline."""

from __future__ import annotations

import pytest

from sessioncloud.onboarding import queue


@pytest.fixture
def closes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(queue, "close_old_connections", lambda: calls.append("close"))
    return calls


def test_a_task_in_a_consumer_thread_tidies_before_and_after(closes, monkeypatch):
    monkeypatch.setattr(queue.huey, "immediate", False)
    task = queue.tidies_connections(lambda: closes.append("work"))

    task()

    assert closes == ["close", "work", "close"]


def test_a_task_run_inline_leaves_the_callers_connection_alone(closes, monkeypatch):
    monkeypatch.setattr(queue.huey, "immediate", True)
    task = queue.tidies_connections(lambda: closes.append("work"))

    task()

    assert closes == ["work"]


def test_every_periodic_task_tidies_its_connection():
    from sessioncloud.onboarding import jobs

    for task in (jobs.run_job_task, jobs.redeliver_lost_jobs_task, jobs.purge_old_jobs_task):
        assert hasattr(task.func, "__wrapped__"), task.name  # wrapped by tidies_connections
