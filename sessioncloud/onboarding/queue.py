"""The bulk jobs' queue (huey): a SQLite file in the data directory, or Redis when configured.

Its own module so that the tasks (jobs.py) and the processes that run them (runner.py) both
import it, and neither imports the other to get it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.db import close_old_connections
from huey import Huey, RedisHuey, SqliteHuey

QUEUE_NAME = "sessioncloud-jobs"
P = ParamSpec("P")
T = TypeVar("T")


def make_huey() -> Huey:
    if settings.REDIS_URL:
        return RedisHuey(QUEUE_NAME, url=settings.REDIS_URL, results=False)
    return SqliteHuey(QUEUE_NAME, filename=str(settings.DATA_DIR / "jobs.sqlite3"), results=False)


huey = make_huey()


def tidies_connections(task: Callable[P, T]) -> Callable[P, T]:
    """Django keeps a connection per thread; a consumer thread must tidy it as a request does.

    Not when tasks run at once inside the caller (huey's immediate mode, as in tests): the
    connection is the caller's, inside its transaction.
    """

    @functools.wraps(task)
    def tidied(*args: P.args, **kwargs: P.kwargs) -> T:
        if huey.immediate:
            return task(*args, **kwargs)
        close_old_connections()
        try:
            return task(*args, **kwargs)
        finally:
            close_old_connections()

    return tidied
