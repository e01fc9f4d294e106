"""Queued jobs whose message was used up or lost are delivered again (jobs.redeliver_lost_jobs).

The queue here is the real one (SQLite in the data directory, or Redis when REDIS_URL is set),
so that what counts as "still has a message" is what a worker would see.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from sessioncloud.onboarding import jobs
from sessioncloud.onboarding.models import Job, JobStatus
from tests.factories import make_end_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("real_queue")]


@pytest.fixture
def queued(app) -> Job:
    make_end_user(app, "alice")
    return jobs.start_job(app, "qr_zip", code_format="local", actor="tests")


def queued_for(job: Job, age: timedelta) -> None:
    Job.objects.filter(pk=job.pk).update(updated=timezone.now() - age)


def messages_for(job: Job) -> int:
    tasks = [*jobs.huey.pending(), *jobs.huey.scheduled()]
    return sum(1 for task in tasks if task.args == (str(job.pk),))


def test_a_queued_job_without_a_message_is_queued_again(queued):
    jobs.huey.flush()  # its message is gone
    queued_for(queued, jobs.REDELIVER_AFTER + timedelta(seconds=1))
    assert jobs.redeliver_lost_jobs() == 1
    assert messages_for(queued) == 1
    jobs.run_job(str(queued.pk))  # what the worker does with it
    assert Job.objects.get(pk=queued.pk).status == JobStatus.DONE


def test_a_job_whose_message_is_still_queued_is_not_sent_twice(queued):
    queued_for(queued, timedelta(hours=1))
    assert jobs.redeliver_lost_jobs() == 0
    assert messages_for(queued) == 1


def test_a_job_waiting_for_a_retry_is_not_sent_twice(queued):
    task = jobs.huey.dequeue()
    task.eta = timezone.now().replace(tzinfo=None) + timedelta(seconds=10)
    jobs.huey.add_schedule(task)  # what a failed try leaves
    queued_for(queued, timedelta(hours=1))
    assert jobs.redeliver_lost_jobs() == 0
    assert (jobs.huey.pending_count(), messages_for(queued)) == (0, 1)


def test_a_job_queued_moments_ago_is_left_to_its_message(queued):
    jobs.huey.flush()  # taken by a worker that has not claimed it yet, say
    assert jobs.redeliver_lost_jobs() == 0
    assert messages_for(queued) == 0


def test_sweeps_one_after_the_other_send_a_lost_job_once(queued):
    jobs.huey.flush()
    queued_for(queued, timedelta(hours=1))
    assert [jobs.redeliver_lost_jobs(), jobs.redeliver_lost_jobs()] == [1, 0]
    assert messages_for(queued) == 1


@pytest.mark.parametrize("status", [JobStatus.RUNNING, JobStatus.DONE, JobStatus.FAILED])
def test_only_queued_jobs_are_delivered_again(queued, status):
    jobs.huey.flush()
    Job.objects.filter(pk=queued.pk).update(status=status, updated=timezone.now() - timedelta(hours=1))
    assert jobs.redeliver_lost_jobs() == 0
    assert Job.objects.get(pk=queued.pk).status == status


def test_a_message_for_a_job_this_database_does_not_have_says_so(caplog):
    with caplog.at_level(logging.WARNING, logger="sessioncloud.onboarding"):
        jobs.run_job("00000000-0000-0000-0000-000000000000")
    assert [record.getMessage() for record in caplog.records] == ["job to run is not in the database"]
