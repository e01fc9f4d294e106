"""Accounts SessionCloud hands out, used by real SIP software: kamailio, baresip and linphonec.

The scenario (tests/sip/scenario.py) runs once for this module, in a network namespace of its
own when the tests run as root (`unshare --net`: loopback only, no DNS, nothing reaches the
network), and brings its own SessionCloud server on SQLite, since the test database's server is
not reachable from inside. Depending on no test database, it runs in the SQLite pass of
`make test` only. `make test` installs the programs (scripts/sip.sh).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

SCENARIO = Path(__file__).with_name("scenario.py")
PROGRAMS = ("kamailio", "baresip", "linphonec")
TIME_LIMIT = 120  # seconds; the scenario takes about 30 and stops itself after 100


def scenario_command(work: Path) -> list[str]:
    command = [sys.executable, str(SCENARIO), str(work)]
    if os.geteuid() == 0 and shutil.which("unshare"):
        return ["unshare", "--net", "--", *command, "--netns"]
    return command  # plain loopback: the programs still talk to 127.0.0.1 only


@pytest.fixture(scope="module")
def facts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    missing = [program for program in PROGRAMS if shutil.which(program) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} missing: `make test` installs them (bash scripts/sip.sh)")
    if connection.vendor != "sqlite":
        pytest.skip("runs once, in the SQLite pass: it brings its own server and database")
    work = tmp_path_factory.mktemp("sip")
    done = subprocess.run(scenario_command(work), capture_output=True, text=True, timeout=TIME_LIMIT)
    if done.returncode != 0:
        logs = "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in sorted(work.glob("*.log"))
        )
        pytest.fail(f"the SIP scenario failed:\n{done.stderr[-4000:]}\n{logs}")
    return json.loads((work / "facts.json").read_text())


@pytest.mark.parametrize(
    ("flow", "user"),
    [
        ("QR code image", "2001"),
        ("external login", "1000"),
        ("setup token", "2002"),
        ("desktop link", "2003"),
    ],
)
def test_an_account_from_each_flow_registers(facts, flow, user):
    assert facts["baresip"]["registrations"][user] == "200 OK", flow


def test_a_wrong_password_gets_401(facts):
    assert facts["baresip"]["registrations"]["2004"] == "401 Unauthorized"


def test_a_call_between_two_baresips_rings_and_is_answered(facts):
    call = facts["baresip"]
    assert (call["caller_saw_ringing"], call["caller_established"], call["callee_established"]) == (
        True,
        True,
        True,
    )


def test_the_call_carries_audio_both_ways(facts):
    # Each side sends its own tone; each must hear the other's (within a few Hz of counting).
    assert abs(facts["baresip"]["caller_heard_hz"] - 700) <= 5
    assert abs(facts["baresip"]["callee_heard_hz"] - 440) <= 5


def test_linphonec_provisions_itself_from_the_linphone_address_and_registers(facts):
    linphone = facts["linphone"]
    assert linphone["first_registered"] is True
    assert linphone["first_identity"] == '"User 2005" <sip:2005@127.0.0.1>'
    assert linphone["stored_ha1"] is True  # it keeps the credentials of the first fetch
    assert "REGISTER sip:2005@127.0.0.1 from 127.0.0.1: 200 OK, expires 600" in facts["registrar"]


def test_linphonecs_next_start_picks_up_the_changed_sip_profile(facts):
    linphone = facts["linphone"]
    assert (linphone["first_expires"], linphone["second_expires"]) == ("600", "300")
    assert linphone["second_registered"] is True
    assert "REGISTER sip:2005@127.0.0.1 from 127.0.0.1: 200 OK, expires 300" in facts["registrar"]
    assert linphone["fetches"] == ["linphone", "linphone"]


def test_linphonec_uses_the_apps_nat_policy(facts):
    assert facts["linphone"]["first_nat"] == ["Using ice with stun server 127.0.0.1:3478"]
    assert facts["linphone"]["first_saved_policy"] == {
        "nat_policy_0.ref": "sessioncloud",
        "nat_policy_0.stun_server": "127.0.0.1:3478",
        "nat_policy_0.protocols": "stun,ice",
    }


def test_linphonec_drops_the_nat_policy_the_app_turned_off(facts):
    linphone = facts["linphone"]
    assert linphone["second_nat"] == ["No firewall"]
    assert linphone["second_saved_policy"] == {"nat_policy_0.ref": "sessioncloud"}


def test_linphonec_takes_the_apps_codecs_in_the_apps_order(facts):
    linphone = facts["linphone"]
    assert len(linphone["first_audio_codecs"]) > 2  # its own list, before the App had one
    assert linphone["second_audio_codecs"] == ["PCMA/8000 enabled", "PCMU/8000 enabled"]
    assert linphone["second_saved_codecs"] == ["PCMA/8000", "PCMU/8000"]


def test_the_scenario_stays_well_within_its_time(facts):
    assert facts["seconds"] < 90
