"""API fuzzing: schemathesis drives every operation of /api/v1/openapi.json (phone and management).

Every answer must be documented and match its schema, and no input may cause a 5xx. Cases are
generated valid (positive) and invalid (negative); valid cases use the real ProviderIds, end
users and tokens half of the time, so the fuzzer gets past the 404 of a random identifier, and
some get a NUL in every text or 10^23 for every number (path, query and body), which no
database column can take.

The quick profile runs in `make test`; `make fuzz` sets SESSIONCLOUD_FUZZ_EXAMPLES for a deeper
run with a random seed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from sessioncloud.accounts.models import ApiKey, Organization
from sessioncloud.providers.models import Device
from sessioncloud.providers.tokens import issue_token
from tests.factories import make_app, make_end_user
from tests.providerstub import start_stub, stop_stub
from tests.reliability import figures

QUICK_EXAMPLES = 25
EXAMPLES = int(os.environ.get("SESSIONCLOUD_FUZZ_EXAMPLES", QUICK_EXAMPLES))
DEEP = EXAMPLES > QUICK_EXAMPLES

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "all"},
        # Valid-by-schema input that breaks a business rule (a ProviderId that is taken, a code
        # over 4 KB) is rightly a 422; every other check stays on.
        "checks": {"positive_data_acceptance": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application(), config=CONFIG)

# Filled by the `world` fixture before each operation's cases run.
REAL: dict[str, Any] = {}


@pytest.fixture
def world(db: Any, loopback_allowed: None, settings: Any) -> Iterator[str]:
    """Two Apps (portal and external mode), end users, a device and a token; the API key."""
    settings.RATE_LIMITS = "provision_user=off,provision_ip=off,redeem_ip=off,parse_ip=off"
    stub = start_stub()
    stub.answer_json({"update": True, "sipaccounts": [{"sipusername": "1000", "sippassword": "pw"}]})
    org = Organization.objects.create(slug="fuzz", name="Fuzz Telecom")
    _, key = ApiKey.issue(org, "fuzz")
    portal = make_app(org, "FuzzInc")
    external = make_app(
        org, "FuzzExt", provisioning_mode="external", provisioning_url=stub.url(), provisioning_timeout=2
    )
    alice = make_end_user(portal, "alice")
    make_end_user(
        external,
        "bob",
        sip_username="",
        sip_password="",
        provisioning_username="1000",
        provisioning_password="1234",
    )
    Device.objects.create(app=portal, device_id="fuzz-device")
    issued = issue_token(alice, max_uses=5)
    REAL.update(
        provider_ids=["FuzzInc", "FuzzExt"],
        external_ids=["alice", "bob"],
        token=issued.plain,
        token_id=issued.token.pk,
    )
    # The WSGI handler closes the connection after each request; inside the test's transaction
    # that would close it under our feet (django.test.Client disconnects the same signals).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield key
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
        stop_stub(stub)


def with_real_identifiers(case: Any, pick: int) -> Any:
    provider_id = REAL["provider_ids"][pick % 2]
    params = case.path_parameters or {}
    if "provider_id" in params:
        params["provider_id"] = provider_id
    if "external_id" in params:
        params["external_id"] = REAL["external_ids"][pick % 2]
    if "device_id" in params:
        params["device_id"] = "fuzz-device"
    if "token_id" in params:
        params["token_id"] = REAL["token_id"]
    body = case.body
    if isinstance(body, dict):
        if "providerId" in body and case.path == "/api/v1/provision":
            body["providerId"] = provider_id
        if "token" in body:
            body["token"] = REAL["token"]
        if "code" in body:
            body["code"] = f"scsc:1000:1234:{provider_id}"
    return case


NUL = "\x00"
HUGE = 10**23  # beyond any 64-bit column: SQLite raises on it, PostgreSQL refuses it


def spoiled(value: Any, spoil: Any) -> Any:
    """The value with every string (or every integer) inside it spoiled, however deep."""
    if isinstance(value, dict):
        return {key: spoiled(item, spoil) for key, item in value.items()}
    if isinstance(value, list):
        return [spoiled(item, spoil) for item in value]
    return spoil(value)


def with_nul(value: Any) -> Any:
    return value[: len(value) // 2] + NUL + value[len(value) // 2 :] if isinstance(value, str) else value


def with_huge_numbers(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    return HUGE if value >= 0 else -HUGE


def spoil_case(case: Any, spoil: Any) -> Any:
    """NUL characters in every text, or huge numbers for every number: path, query and body."""
    for name in ("path_parameters", "query"):
        parameters = getattr(case, name)
        if parameters:
            setattr(case, name, spoiled(parameters, spoil))
    if isinstance(case.body, (dict, list)):
        case.body = spoiled(case.body, spoil)
    if spoil is with_huge_numbers and case.path_parameters and "token_id" in case.path_parameters:
        case.path_parameters["token_id"] = HUGE
    return case


def varied(case: Any, pick: int) -> Any:
    if pick < 2:
        return with_real_identifiers(case, pick)
    if pick == 4:
        return spoil_case(with_real_identifiers(case, 0), with_nul)
    if pick == 5:
        return spoil_case(with_real_identifiers(case, 1), with_huge_numbers)
    return case


@schema.hook
def flatmap_case(context: Any, case: Any) -> Any:
    if case.meta is None or case.meta.generation.mode.is_negative:
        return st.just(case)
    return st.integers(min_value=0, max_value=5).map(lambda pick: varied(case, pick))


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not DEEP,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_documented_and_never_a_server_error(case: Any, world: str) -> None:
    part = "api fuzzing, deep" if DEEP else "api fuzzing"
    try:
        case.call_and_validate(headers={"Authorization": f"Bearer {world}"})
    except BaseException:
        figures.record(part, 1, 0)
        raise
    figures.record(part, 1, 1, operations=len(schema), examples_per_operation=EXAMPLES)


def test_the_openapi_document_has_no_duplicate_keys(db: Any) -> None:
    """A duplicate key (an int and a str status code, say) hides one of the two from every client."""
    from django.test import Client

    duplicates: list[str] = []

    def refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        duplicates.extend(sorted({key for key in keys if keys.count(key) > 1}))
        return dict(pairs)

    json.loads(Client().get("/api/v1/openapi.json").content, object_pairs_hook=refuse_duplicates)
    assert duplicates == []
