"""External provisioning: ask the provider's service, merge its answer, keep the ledger.

Used by `POST /api/v1/provision`, by setup tokens that wrap provisioning credentials, and by
the portal's test bench. Every call that provisions leaves one provisioning log row (never a
password) and updates the device ledger.

A call has three parts. `begin_external` (blocking: the ledger, the breaker in the shared
cache) decides whether the provider may be asked; `complete_external` waits for the answer on
the event loop, holding no thread, with at most `calls_allowed` calls of one App waiting at once;
`finish_external` (blocking) merges the answer and records it. The blocking parts run in the
phone API's pool, or with the embedded database on the event loop itself when they need not
wait (serving/pools.py, `run_quick`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from sessioncloud.lib.metrics import CALLS_IN_FLIGHT, PROVIDER_CONNECTIONS, UPSTREAM
from sessioncloud.lib.sipaccount import SipAccount
from sessioncloud.providers.config import RenderedConfig, cached_config, render_and_store, render_config
from sessioncloud.providers.endusers import sip_account
from sessioncloud.providers.ledger import (
    DeviceState,
    DeviceVisit,
    LogLine,
    append_log,
    device_state,
    record_call,
)
from sessioncloud.providers.models import App, EndUser
from sessioncloud.providers.outbound import breaker_for, outbound_policy, sip_profile
from sessioncloud.providers.statements import NotNow, running_on_loop
from sessioncloud.provisioning.breaker import CircuitBreaker
from sessioncloud.provisioning.fairness import CallsInFlight
from sessioncloud.provisioning.merge import merge_accounts
from sessioncloud.provisioning.upstream import (
    MASK,
    PROVIDER_UNREACHABLE,
    UpstreamRequest,
    UpstreamResult,
    call_provider,
    call_provider_blocking,
    masked_request,
)
from sessioncloud.serving.pools import run_blocking, run_quick

log = logging.getLogger("sessioncloud.provisioning")

DEACTIVATED_MESSAGE = "This device was deactivated by your provider."
UPSTREAM_FAILURES: dict[str, tuple[int, str]] = {
    "provider_timeout": (
        504,
        "Your provider's service did not answer in time. Please try again in a moment.",
    ),
    "provider_unreachable": (
        502,
        "Your provider's service cannot be reached right now. Please try again later.",
    ),
    "provider_bad_response": (
        502,
        "Your provider's service gave an answer that cannot be used. Please contact your provider.",
    ),
    "provider_error": (
        502,
        "Your provider's service reported an error. Please try again later or contact your provider.",
    ),
}
PROVIDER_BUSY = "provider_busy"
BUSY_MESSAGE = "Your provider's service is busy right now. Please try again in a moment."
BUSY_RETRY_SECONDS = 5
CANCELLED = "cancelled"

# The calls this process has waiting on providers' services, per App.
IN_FLIGHT = CallsInFlight()

Disconnected = Callable[[], Awaitable[Any]]


@dataclass(frozen=True)
class Client:
    """What the phone told us about itself, and where the request came from."""

    device_id: str
    platform: str = ""
    version: str = ""
    ip: str | None = None
    user_agent: str = ""


@dataclass
class Outcome:
    """The phone API's answer: a status and either an answer body or an error."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def delivered_accounts(self) -> bool:
        return self.status == 200 and bool(self.body.get("sipaccounts"))


@dataclass(frozen=True)
class ProviderCall:
    """A call to a provider's service that may go out: everything decided before the wait."""

    app: App
    username: str
    client: Client
    request: UpstreamRequest
    flow: str
    state: DeviceState
    # The breaker that let the call out: it remembers whether it saw the provider clean, so a
    # success after a clean check costs the shared store nothing.
    breaker: CircuitBreaker
    end_user: EndUser | None = None


def config_version(app: App) -> str:
    cached = cached_config(app.provider_id) if app.enabled else None
    if isinstance(cached, RenderedConfig):
        return cached.version
    if running_on_loop():
        raise NotNow  # rendering reads the database the ORM's way: the phone pool's work
    # What get_rendered_config does after the cache read just made, without reading it again.
    rendered = render_and_store(app.provider_id) if cached is None and app.enabled else None
    return (rendered or render_config(app)).version


def require_config_in_memory(app: App) -> None:
    """On the event loop a call goes on only while its App's config is held in this process
    (after its first call, nearly always), so that nothing it counts is counted twice when the
    work moves to the phone pool; elsewhere this checks nothing."""
    if running_on_loop() and app.enabled:
        config_version(app)


def settle(
    app: App,
    client: Client,
    username: str,
    flow: str,
    result: str,
    *,
    end_user: EndUser | None = None,
    accounts_hash: str | None = None,
    outcome: str | None = None,
    error_code: str = "",
    detail: str = "",
    upstream: UpstreamResult | None = None,
    accounts: int = 0,
) -> None:
    """Record a provisioning call: the device's ledger row and one provisioning log row."""
    visit = DeviceVisit(
        device_id=client.device_id,
        username=username,
        platform=client.platform,
        app_version=client.version,
        end_user_id=end_user.pk if end_user else None,
        result=result,
        accounts_hash=accounts_hash,
    )
    record_call(
        app.pk,
        visit,
        log_line(
            client,
            username,
            flow,
            outcome or result,
            error_code=error_code,
            detail=detail,
            upstream=upstream,
            accounts=accounts,
        ),
    )


def log_line(
    client: Client,
    username: str,
    flow: str,
    outcome: str,
    *,
    error_code: str = "",
    detail: str = "",
    upstream: UpstreamResult | None = None,
    accounts: int = 0,
) -> LogLine:
    return LogLine(
        device_id=client.device_id,
        username=username,
        flow=flow,
        outcome=outcome,
        error_code=error_code,
        detail=detail,
        upstream_status=upstream.status if upstream else None,
        upstream_latency_ms=upstream.latency_ms if upstream else None,
        accounts=accounts,
    )


def deactivated(app: App, client: Client, username: str, flow: str, end_user: EndUser | None) -> Outcome:
    settle(app, client, username, flow, "deactivated", end_user=end_user)
    return Outcome(200, deactivated_answer(app))


def deactivated_answer(app: App) -> dict[str, Any]:
    return {
        "update": True,
        "errmsg": DEACTIVATED_MESSAGE,
        "configVersion": config_version(app),
        "sipaccounts": [],
        "xmppaccounts": [],
    }


def accounts_digest(answer: dict[str, Any]) -> str:
    canonical = json.dumps(
        [answer["sipaccounts"], answer["xmppaccounts"], answer["configVersion"]],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def upstream_request(
    app: App, username: str, password: str, device_id: str, reprovision: bool
) -> UpstreamRequest:
    return UpstreamRequest(
        url=app.provisioning_url,
        username=username,
        password=password,
        device_id=device_id,
        reprovision=reprovision,
        auth_header=app.provisioning_auth_header or None,
        signing_secrets=tuple(app.signing_secret_list()),
        timeout_seconds=float(app.provisioning_timeout),
    )


def calls_allowed(app: App) -> int:
    return app.max_calls_in_flight or settings.PROVIDER_CALLS_PER_APP


def merged_answer(app: App, result: UpstreamResult) -> dict[str, Any]:
    answer = result.answer
    assert answer is not None  # only called for successful results
    return {
        "update": answer.update,
        "errmsg": answer.errmsg,
        "configVersion": config_version(app),
        "sipaccounts": merge_accounts(answer.sipaccounts, sip_profile(app)),
        "xmppaccounts": [account.for_phone() for account in answer.xmppaccounts],
    }


def failed(call: ProviderCall, result: UpstreamResult) -> Outcome:
    assert result.error_code is not None
    status, message = UPSTREAM_FAILURES[result.error_code]
    settle(
        call.app,
        call.client,
        call.username,
        call.flow,
        result.error_code,
        end_user=call.end_user,
        outcome="failed",
        error_code=result.error_code,
        detail=result.detail,
        upstream=result,
    )
    log.info("provisioning failed", extra={"provider_id": call.app.provider_id, "code": result.error_code})
    return Outcome(status, error_code=result.error_code, message=message)


# --- One external provisioning call, in its three parts ---------------------------------------


def begin_external(
    app: App,
    username: str,
    password: str,
    client: Client,
    *,
    reprovision: bool = False,
    flow: str = "provision",
    end_user: EndUser | None = None,
    state: DeviceState | None = None,
    breaker_flags: tuple[bool, ...] | None = None,
) -> ProviderCall | Outcome:
    """Before the wait (blocking): the device's state and the provider's breaker.

    Flows D, E and F (and tokens wrapping provisioning credentials). `state` is the device's
    ledger state when the caller read it with the App (one query); `breaker_flags` the breaker's
    state when the caller read it with its rate limits (one round trip).
    """
    state = state or device_state(app.pk, client.device_id)
    if state.deactivated:
        return deactivated(app, client, username, flow, end_user)
    call = ProviderCall(
        app,
        username,
        client,
        upstream_request(app, username, password, client.device_id, reprovision),
        flow,
        state,
        breaker_for(app.pk),
        end_user,
    )
    if not call.breaker.allow(breaker_flags):
        UPSTREAM.labels("circuit_open").inc()
        return failed(call, short_circuited(call.request))
    return call


def short_circuited(request: UpstreamRequest) -> UpstreamResult:
    return UpstreamResult(PROVIDER_UNREACHABLE, "circuit open", 0, masked_request(request))


async def _until_disconnected(
    work: Awaitable[UpstreamResult], disconnected: Disconnected | None
) -> UpstreamResult | None:
    """`work`'s result, or None (and `work` cancelled) if the phone disconnects first."""
    task = asyncio.ensure_future(work)
    if disconnected is None:
        return await task
    gone = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None


def finish_external(call: ProviderCall, result: UpstreamResult | None) -> Outcome:
    """After the wait (blocking): the breaker, the merge and the ledger."""
    app, client = call.app, call.client
    if result is None:
        settle(
            app,
            client,
            call.username,
            call.flow,
            CANCELLED,
            end_user=call.end_user,
            error_code="client_disconnected",
            detail="the phone disconnected before its provider answered; the call was cancelled",
        )
        UPSTREAM.labels(CANCELLED).inc()
        return Outcome(499, error_code="client_disconnected", message="The phone went away.")
    # The answer first: on the event loop it may move the work to the pool (config_version),
    # which must find nothing counted yet.
    answer = merged_answer(app, result) if result.error_code is None else None
    UPSTREAM.labels(result.error_code or "ok").inc()
    if result.connection:
        PROVIDER_CONNECTIONS.labels(result.connection).inc()
    record_health(call.breaker, result, client)
    if answer is None:
        return failed(call, result)
    digest = accounts_digest(answer)
    if call.request.reprovision and answer["update"] and call.state.accounts_hash == digest:
        # Nothing changed since this device was last provisioned: tell it to keep what it has.
        answer["update"] = False
    delivered = bool(answer["sipaccounts"])
    outcome = "ok" if delivered else "rejected"
    settle(
        app,
        client,
        call.username,
        call.flow,
        outcome,
        end_user=call.end_user,
        accounts_hash=digest if delivered else None,
        upstream=result,
        accounts=len(answer["sipaccounts"]),
        detail=answer["errmsg"] if outcome == "rejected" else "",
    )
    return Outcome(200, answer)


def busy(call: ProviderCall) -> Outcome:
    """The App already has as many calls waiting as it may: say so at once (blocking: the log)."""
    settle(
        call.app,
        call.client,
        call.username,
        call.flow,
        PROVIDER_BUSY,
        end_user=call.end_user,
        outcome="failed",
        error_code=PROVIDER_BUSY,
        detail=f"{calls_allowed(call.app)} calls already waiting on the provider",
    )
    UPSTREAM.labels(PROVIDER_BUSY).inc()
    return Outcome(
        503, error_code=PROVIDER_BUSY, message=BUSY_MESSAGE, headers={"Retry-After": str(BUSY_RETRY_SECONDS)}
    )


def record_health(breaker: CircuitBreaker, result: UpstreamResult, client: Client) -> None:
    """Tell the breaker; one caller's failures count once per window (provisioning/breaker.py)."""
    if result.unhealthy:
        breaker.record_failure(caller=caller_identity(client))
    elif result.error_code is None or result.status is not None:
        breaker.record_success()


def caller_identity(client: Client) -> str:
    """Who made a call, as the breaker counts callers: the address (an IPv6 client by its /64)."""
    try:
        address = ipaddress.ip_address(client.ip or "")
    except ValueError:
        return "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    return str(address)


async def complete_external(call: ProviderCall, disconnected: Disconnected | None = None) -> Outcome:
    """The wait and the part after it; the provider is busy if the App's bound is reached."""
    key = call.app.pk
    if not IN_FLIGHT.try_acquire(key, calls_allowed(call.app)):
        return await run_quick(busy, call)
    CALLS_IN_FLIGHT.inc()
    try:
        result = await _until_disconnected(call_provider(call.request, outbound_policy()), disconnected)
    finally:
        IN_FLIGHT.release(key)
        CALLS_IN_FLIGHT.dec()
    return await run_quick(finish_external, call, result)


async def provision_external(
    app: App,
    username: str,
    password: str,
    client: Client,
    *,
    reprovision: bool = False,
    flow: str = "provision",
    end_user: EndUser | None = None,
    state: DeviceState | None = None,
    disconnected: Disconnected | None = None,
) -> Outcome:
    begun = await run_blocking(
        begin_external,
        app,
        username,
        password,
        client,
        reprovision=reprovision,
        flow=flow,
        end_user=end_user,
        state=state,
    )
    if isinstance(begun, Outcome):
        return begun
    return await complete_external(begun, disconnected)


# --- The portal's test bench -----------------------------------------------------------------


def test_bench(app: App, username: str, password: str) -> dict[str, Any]:
    """The real call a phone would cause, shown to the provider with secrets masked.

    It bypasses the breaker and the bound on calls in flight (a provider debugging its service
    must see what it answers), and counts towards neither.
    """
    request = upstream_request(app, username, password, "test-bench", False)
    result = call_provider_blocking(request, outbound_policy())
    masked = result.masked_request
    report: dict[str, Any] = {
        "request": {"method": masked.method, "url": masked.url, "headers": masked.headers},
        "status": result.status,
        "latencyMs": result.latency_ms,
        "rawAnswer": result.body_text,
        "errorCode": result.error_code,
        "detail": result.detail,
        "validationErrors": list(result.reasons),
        "answer": None,
    }
    if result.error_code is None:
        report["answer"] = _with_turn_password_masked(merged_answer(app, result))
    accounts = len(report["answer"]["sipaccounts"]) if report["answer"] else 0
    # The verdict a phone's call gets: no accounts is the provider's way of saying no.
    report["outcome"] = "failed" if result.error_code else ("ok" if accounts else "rejected")
    detail = report["answer"]["errmsg"] if report["outcome"] == "rejected" else result.detail
    append_log(
        app.pk,
        log_line(
            Client(device_id="test-bench"),
            username,
            "test_bench",
            report["outcome"],
            error_code=result.error_code or "",
            detail=detail,
            upstream=result,
            accounts=accounts,
        ),
    )
    return report


def _with_turn_password_masked(answer: dict[str, Any]) -> dict[str, Any]:
    # The App's TURN password is write-only, like the auth header: the bench shows it is set.
    for account in answer["sipaccounts"]:
        if account["turnPassword"]:
            account["turnPassword"] = MASK
    return answer


# --- Accounts SessionCloud holds itself --------------------------------------------------------


def provision_local(
    app: App,
    accounts: list[SipAccount],
    client: Client,
    *,
    flow: str,
    end_user: EndUser | None = None,
    username: str = "",
) -> Outcome:
    """Accounts SessionCloud already holds (a setup token for SIP credentials), merged (blocking)."""
    if device_state(app.pk, client.device_id).deactivated:
        return deactivated(app, client, username, flow, end_user)
    answer = {
        "update": True,
        "errmsg": "",
        "configVersion": config_version(app),
        "sipaccounts": merge_accounts(accounts, sip_profile(app)),
        "xmppaccounts": [],
    }
    settle(
        app,
        client,
        username,
        flow,
        "ok",
        end_user=end_user,
        accounts_hash=accounts_digest(answer),
        accounts=len(accounts),
    )
    return Outcome(200, answer)


NOTHING_TO_PROVISION = (
    "external_provisioning_disabled",
    "This setup code cannot set up your phone any more. Ask your provider for a new one.",
)


def nothing_to_provision(app: App, client: Client, user: EndUser, flow: str) -> Outcome:
    """An end user with provisioning credentials only, of an App no longer in external mode."""
    code, message = NOTHING_TO_PROVISION
    settle(
        app,
        client,
        user.provisioning_username,
        flow,
        "failed",
        end_user=user,
        error_code=code,
        detail="the end user has provisioning credentials only, and the App is not in external mode",
    )
    return Outcome(409, error_code=code, message=message)


def begin_for_end_user(user: EndUser, app: App, client: Client, flow: str) -> ProviderCall | Outcome:
    """A token's end user: external credentials need the provider, SIP ones are merged here.

    A user with provisioning credentials only, of an App no longer in external mode, has
    nothing this App can hand out: 409, logged, and the token is given back by its caller.
    """
    if user.has_provisioning and app.is_external:
        return begin_external(
            app, user.provisioning_username, user.provisioning_password, client, flow=flow, end_user=user
        )
    if not user.has_sip:
        return nothing_to_provision(app, client, user, flow)
    return provision_local(
        app, [sip_account(user)], client, flow=flow, end_user=user, username=user.sip_username
    )
