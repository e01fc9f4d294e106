"""External provisioning: ask the provider's service, merge its answer, keep the ledger.

Used by `POST /api/v1/provision`, by setup tokens that wrap provisioning credentials, and by
the portal's test bench. Every call that provisions leaves one provisioning log row (never a
password) and updates the device ledger.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from sessioncloud.api.metrics import UPSTREAM
from sessioncloud.lib.sipaccount import SipAccount
from sessioncloud.providers.config import get_rendered_config, render_config
from sessioncloud.providers.endusers import sip_account
from sessioncloud.providers.ledger import (
    DeviceState,
    DeviceVisit,
    LogLine,
    append_log,
    device_state,
    record_call,
)
from sessioncloud.providers.models import App, EndUser, SetupToken
from sessioncloud.providers.outbound import breaker_for, outbound_policy, sip_profile
from sessioncloud.provisioning.merge import merge_accounts
from sessioncloud.provisioning.upstream import UpstreamRequest, UpstreamResult, call_provider

log = logging.getLogger("sessioncloud.provisioning")

DEACTIVATED_MESSAGE = "This device was deactivated by your provider."
UPSTREAM_FAILURES: dict[str, tuple[int, str]] = {
    "provider_timeout": (504, "Your provider's service did not answer in time. Please try again in a moment."),
    "provider_unreachable": (502, "Your provider's service cannot be reached right now. Please try again later."),
    "provider_bad_response": (502, "Your provider's service gave an answer that cannot be used. "
                                   "Please contact your provider."),
    "provider_error": (502, "Your provider's service reported an error. Please try again later "
                            "or contact your provider."),
}


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


def config_version(app: App) -> str:
    rendered = get_rendered_config(app.provider_id) if app.enabled else None
    return (rendered or render_config(app)).version


def settle(app: App, client: Client, username: str, flow: str, result: str, *,
           end_user: EndUser | None = None, accounts_hash: str | None = None, outcome: str | None = None,
           error_code: str = "", detail: str = "", upstream: UpstreamResult | None = None,
           accounts: int = 0) -> None:
    """Record a provisioning call: the device's ledger row and one provisioning log row."""
    visit = DeviceVisit(device_id=client.device_id, username=username, platform=client.platform,
                        app_version=client.version, end_user_id=end_user.pk if end_user else None,
                        result=result, accounts_hash=accounts_hash)
    record_call(app.pk, visit, log_line(client, username, flow, outcome or result, error_code=error_code,
                                         detail=detail, upstream=upstream, accounts=accounts))


def log_line(client: Client, username: str, flow: str, outcome: str, *, error_code: str = "", detail: str = "",
             upstream: UpstreamResult | None = None, accounts: int = 0) -> LogLine:
    return LogLine(
        device_id=client.device_id, username=username, flow=flow, outcome=outcome,
        error_code=error_code, detail=detail,
        upstream_status=upstream.status if upstream else None,
        upstream_latency_ms=upstream.latency_ms if upstream else None,
        accounts=accounts,
    )


def deactivated(app: App, client: Client, username: str, flow: str, end_user: EndUser | None) -> Outcome:
    settle(app, client, username, flow, "deactivated", end_user=end_user)
    return Outcome(200, deactivated_answer(app))


def deactivated_answer(app: App) -> dict[str, Any]:
    return {"update": True, "errmsg": DEACTIVATED_MESSAGE, "configVersion": config_version(app),
            "sipaccounts": [], "xmppaccounts": []}


def accounts_digest(answer: dict[str, Any]) -> str:
    canonical = json.dumps([answer["sipaccounts"], answer["xmppaccounts"], answer["configVersion"]],
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def upstream_request(app: App, username: str, password: str, device_id: str, reprovision: bool) -> UpstreamRequest:
    return UpstreamRequest(
        url=app.provisioning_url, username=username, password=password, device_id=device_id,
        reprovision=reprovision, auth_header=app.provisioning_auth_header or None,
        signing_secrets=tuple(app.signing_secret_list()), timeout_seconds=float(app.provisioning_timeout),
    )


def release_database() -> None:
    """Give a pooled connection back to the pool while the provider is asked (up to 15 s)."""
    if "pool" in connection.settings_dict.get("OPTIONS", {}) and not connection.in_atomic_block:
        connection.close()


def ask_provider(app: App, username: str, password: str, device_id: str, reprovision: bool) -> UpstreamResult:
    request = upstream_request(app, username, password, device_id, reprovision)
    release_database()
    result = call_provider(request, outbound_policy(), breaker_for(app.pk))
    UPSTREAM.labels(result.error_code or "ok").inc()
    return result


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


def provision_external(app: App, username: str, password: str, client: Client, *,
                       reprovision: bool = False, flow: str = "provision",
                       end_user: EndUser | None = None, state: DeviceState | None = None) -> Outcome:
    """Flows D, E and F (and tokens wrapping provisioning credentials).

    `state` is the device's ledger state when the caller read it with the App (one query).
    """
    state = state or device_state(app.pk, client.device_id)
    if state.deactivated:
        return deactivated(app, client, username, flow, end_user)
    result = ask_provider(app, username, password, client.device_id, reprovision)
    if result.error_code:
        status, message = UPSTREAM_FAILURES[result.error_code]
        settle(app, client, username, flow, result.error_code, end_user=end_user, outcome="failed",
               error_code=result.error_code, detail=result.detail, upstream=result)
        log.info("provisioning failed", extra={"provider_id": app.provider_id, "code": result.error_code})
        return Outcome(status, error_code=result.error_code, message=message)
    answer = merged_answer(app, result)
    digest = accounts_digest(answer)
    if reprovision and answer["update"] and state.accounts_hash == digest:
        # Nothing changed since this device was last provisioned: tell it to keep what it has.
        answer["update"] = False
    outcome = "ok" if answer["sipaccounts"] else "rejected"
    settle(app, client, username, flow, outcome, end_user=end_user,
           accounts_hash=digest if answer["sipaccounts"] else None, upstream=result,
           accounts=len(answer["sipaccounts"]), detail=answer["errmsg"] if outcome == "rejected" else "")
    return Outcome(200, answer)


def test_bench(app: App, username: str, password: str) -> dict[str, Any]:
    """The real call a phone would cause, shown to the provider with secrets masked."""
    result = ask_provider(app, username, password, "test-bench", False)
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
        report["answer"] = merged_answer(app, result)
    accounts = len(report["answer"]["sipaccounts"]) if report["answer"] else 0
    # The verdict a phone's call gets: no accounts is the provider's way of saying no.
    report["outcome"] = "failed" if result.error_code else ("ok" if accounts else "rejected")
    detail = report["answer"]["errmsg"] if report["outcome"] == "rejected" else result.detail
    append_log(app.pk, log_line(Client(device_id="test-bench"), username, "test_bench", report["outcome"],
                                error_code=result.error_code or "", detail=detail, upstream=result,
                                accounts=accounts))
    return report


def provision_local(app: App, accounts: list[SipAccount], client: Client, *, flow: str,
                    end_user: EndUser | None = None, username: str = "") -> Outcome:
    """Accounts SessionCloud already holds (a setup token for SIP credentials), merged."""
    if device_state(app.pk, client.device_id).deactivated:
        return deactivated(app, client, username, flow, end_user)
    answer = {"update": True, "errmsg": "", "configVersion": config_version(app),
              "sipaccounts": merge_accounts(accounts, sip_profile(app)), "xmppaccounts": []}
    settle(app, client, username, flow, "ok", end_user=end_user, accounts_hash=accounts_digest(answer),
           accounts=len(accounts))
    return Outcome(200, answer)


def provision_from_token(token: SetupToken, client: Client) -> Outcome:
    """A redeemed token: external credentials run the provider call, SIP ones are merged here."""
    user, app = token.end_user, token.app
    if user.has_provisioning and app.is_external:
        return provision_external(app, user.provisioning_username, user.provisioning_password, client,
                                  flow="token", end_user=user)
    return provision_local(app, [sip_account(user)], client, flow="token", end_user=user,
                           username=user.sip_username)
