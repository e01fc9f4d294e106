"""Crash safety: kill -9 every app process in the middle of writes, restart, and check the data.

Writers create end users, rewrite an App and redeem single-use setup tokens through a real
server until it is killed (master and workers at once, as a crash or an OOM kill would). After a
restart on the same database: every change that was answered 2xx is there, nothing is half
written (an App's fields all come from one update, every change has its audit entry), and no
token was redeemed twice. Runs on whichever database the suite runs on (SQLite or PostgreSQL).
"""

from __future__ import annotations

import json
import threading
from http.client import HTTPConnection
from typing import Any

import pytest

from sessioncloud.accounts.models import ApiKey, AuditEntry
from sessioncloud.providers.models import App, EndUser, SetupToken, TokenRedemption, hash_token
from sessioncloud.providers.tokens import issue_token
from tests.factories import make_app, make_end_user
from tests.reliability import figures
from tests.reliability.processes import ServerProcess, server_process, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

TOKENS = 60
KILL_AFTER = 40  # acknowledged writes before the kill, so it lands in the middle of them
WRITE_LIMIT = 2000  # a bound on each writer, whatever happens


class Writers:
    """Threads that write through the API and remember every write that was acknowledged."""

    def __init__(self, server: ServerProcess, key: str, tokens: list[str]) -> None:
        self.server, self.key, self.tokens = server, key, tokens
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.end_users: list[str] = []  # external ids answered 201
        self.generations: list[int] = []  # App generations answered 200
        self.redeemed: list[str] = []  # tokens answered 200
        self.refused: list[str] = []  # tokens answered 404

    @property
    def acknowledged(self) -> int:
        with self.lock:
            return len(self.end_users) + len(self.generations) + len(self.redeemed)

    def all_kinds_under_way(self) -> bool:
        with self.lock:
            every_kind = bool(self.end_users and self.generations and self.redeemed)
        return every_kind and self.acknowledged >= KILL_AFTER

    def send(self, method: str, path: str, body: dict, auth: bool = True) -> int | None:
        connection = HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        headers = {
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {self.key}"} if auth else {}),
        }
        try:
            connection.request(method, path, body=json.dumps(body), headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        except OSError:
            return None  # the server died under this request: not acknowledged
        finally:
            connection.close()

    def create_end_users(self, writer: int) -> None:
        for n in range(WRITE_LIMIT):
            if self.stop.is_set():
                return
            external_id = f"w{writer}-{n}"
            status = self.send(
                "PUT",
                f"/api/v1/manage/apps/CrashInc/endusers/{external_id}",
                {
                    "displayName": external_id,
                    "sip": {"sipusername": external_id, "sippassword": f"pw-{external_id}"},
                },
            )
            if status == 201:
                with self.lock:
                    self.end_users.append(external_id)
            elif status is None:
                return

    def rewrite_app(self) -> None:
        for generation in range(1, WRITE_LIMIT):
            if self.stop.is_set():
                return
            status = self.send(
                "PATCH",
                "/api/v1/manage/apps/CrashInc",
                {
                    "name": f"Generation {generation}",
                    "branding": {"helpMenuTitle": f"Help {generation}"},
                    "sip": {"voicemailNumber": str(generation), "registrationExpires": 600 + generation},
                },
            )
            if status == 200:
                with self.lock:
                    self.generations.append(generation)
            elif status is None:
                return

    def redeem_tokens(self) -> None:
        for token in self.tokens:
            if self.stop.is_set():
                return
            status = self.send(
                "POST", "/api/v1/tokens/redeem", {"token": token, "deviceId": "crash-phone"}, auth=False
            )
            with self.lock:
                if status == 200:
                    self.redeemed.append(token)
                elif status == 404:
                    self.refused.append(token)
            if status is None:
                return

    def run_until_killed(self) -> None:
        threads = [threading.Thread(target=self.create_end_users, args=(n,)) for n in range(2)]
        threads += [threading.Thread(target=self.rewrite_app), threading.Thread(target=self.redeem_tokens)]
        for thread in threads:
            thread.start()
        try:
            # Killed only once every kind of write has been acknowledged at least once, so the
            # crash lands in the middle of all of them, however the threads were scheduled.
            assert wait_for(self.all_kinds_under_way, 60), "the writers made no progress"
            self.server.kill()
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(30)


def app_generation(app: App) -> set[int]:
    """Which update each field of the App comes from; one value when nothing is half written."""
    numbers = {
        int(app.name.removeprefix("Generation ")) if app.name.startswith("Generation ") else 0,
        int(app.help_menu_title.removeprefix("Help ")) if app.help_menu_title.startswith("Help ") else 0,
        int(app.voicemail_number or 0),
        app.registration_expires - 600,
    }
    return numbers


def redeem(base: str, token: str) -> int:
    connection = HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=10)
    try:
        connection.request(
            "POST",
            "/api/v1/tokens/redeem",
            body=json.dumps({"token": token, "deviceId": "after"}),
            headers={"Content-Type": "application/json"},
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def uses_of(tokens: list[str]) -> dict[str, int]:
    uses = dict(SetupToken.objects.values_list("token_hash", "uses"))
    return {token: uses[hash_token(token)] for token in tokens}


def test_a_crash_in_the_middle_of_writes_loses_no_acknowledged_change_and_half_writes_nothing(
    org: Any,
) -> None:
    app = make_app(
        org,
        "CrashInc",
        name="Generation 0",
        help_menu_title="Help 0",
        voicemail_number="0",
        registration_expires=600,
    )
    _, key = ApiKey.issue(org, "crash")
    tokens = [issue_token(make_end_user(app, f"token-user-{n}")).plain for n in range(TOKENS)]
    env = {"SESSIONCLOUD_RATE_LIMITS": "redeem_ip=off"}

    with server_process(threads=8, **env) as server:
        writers = Writers(server, key, tokens)
        writers.run_until_killed()
        assert server.process.poll() is not None  # really dead

    app.refresh_from_db()
    users = {u.external_id: u for u in EndUser.objects.filter(app=app, external_id__startswith="w")}
    created = set(AuditEntry.objects.filter(action="enduser.create").values_list("object_repr", flat=True))
    updates = AuditEntry.objects.filter(action="app.update").count()
    used_at_crash = uses_of(tokens)
    last = max(writers.generations, default=0)

    # Restart on the same database, as an operator (or systemd) would, and redeem every token.
    with server_process(threads=4, **env) as restarted:
        first_try = {token: redeem(restarted.base, token) for token in tokens}
        second_try = {token: redeem(restarted.base, token) for token in tokens}
    used_in_the_end = uses_of(tokens)

    checks = {
        "every acknowledged end user is there": set(writers.end_users) <= set(users),
        "every end user is whole": all(
            u.sip_username == eid and u.sip_password == f"pw-{eid}" for eid, u in users.items()
        ),
        "every end user has its audit entry": set(users) == created,
        "the App's fields come from one update": len(app_generation(app)) == 1,
        "no acknowledged App update is lost": app_generation(app) <= {last, last + 1},
        "every App update has its audit entry": app_generation(app) == {updates},
        "no token was used twice": max(used_at_crash.values()) <= 1 and max(used_in_the_end.values()) <= 1,
        "each use has its one redemption record": TokenRedemption.objects.filter(token__app=app).count()
        == sum(used_in_the_end.values()),
        "an acknowledged redemption stayed used": all(used_at_crash[t] == 1 for t in writers.redeemed),
        "a token used before the crash is refused after it": all(
            first_try[t] == 404 for t in tokens if used_at_crash[t] == 1
        ),
        "an unused token works exactly once after the restart": all(
            (first_try[t], second_try[t]) == (200, 404) for t in tokens if used_at_crash[t] == 0
        ),
    }
    figures.record("crash safety", len(checks), sum(checks.values()))
    assert {name: ok for name, ok in checks.items() if not ok} == {}
    assert writers.acknowledged >= KILL_AFTER
    assert len(writers.end_users) > 0 and len(writers.generations) > 0 and len(writers.redeemed) > 0
