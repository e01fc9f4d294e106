"""The phone API: what softphones call (docs/phone-api.md).

Each endpoint is an asynchronous function of plain values that returns a PhoneAnswer, and
never raises for bad input or a failing provider. The event-loop front (serving/front.py) calls
them for real phones. The django-ninja routes at the bottom call the same functions: they give
the API its OpenAPI document, and let Django's test client reach exactly the code phones reach.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from functools import wraps
from typing import Any, ParamSpec

from asgiref.sync import async_to_sync
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from ninja import Router

from sessioncloud.api.clientinfo import request_client_ip
from sessioncloud.api.errors import ApiError, error_body
from sessioncloud.api.schemas import (
    ErrorOut,
    ParsedCodeOut,
    ParseIn,
    PhoneAppInfo,
    ProvisionIn,
    ProvisionOut,
    PublicConfigOut,
    RedeemIn,
    RedeemOut,
)
from sessioncloud.codes.formats import PROVIDER_ID_RE, CodeError, parse_code
from sessioncloud.providers import linphone, ratelimit
from sessioncloud.providers.config import (
    MISSING,
    RenderedConfig,
    config_cache,
    get_rendered_config,
    parse_entry,
)
from sessioncloud.providers.lookup import enabled_app_and_device
from sessioncloud.providers.outbound import breaker_for
from sessioncloud.providers.provision import (
    Client,
    Outcome,
    ProviderCall,
    begin_external,
    begin_for_end_user,
    complete_external,
    require_config_in_memory,
)
from sessioncloud.providers.refusals import PROVIDER_NOT_FOUND, RATE_LIMITED, TOKEN_INVALID
from sessioncloud.providers.tokens import Claim, claim, give_back
from sessioncloud.serving.pools import UNKNOWN, blocking_on_caller_thread, queue_as, run_blocking, run_quick

log = logging.getLogger("sessioncloud.api")
P = ParamSpec("P")

JSON_TYPE = "application/json"


# The two errors phones meet most are built anew each time: an exception object raised again
# keeps its old traceback and adds to it, so a shared one would grow (and keep every frame it
# passed through alive) with each unknown ProviderId or spent token.
def provider_not_found() -> ApiError:
    return ApiError(404, *PROVIDER_NOT_FOUND)


def token_invalid() -> ApiError:
    return ApiError(404, *TOKEN_INVALID)


UNAVAILABLE = ApiError(
    503, "unavailable", "The service is busy. Please try again in a moment.", headers={"Retry-After": "5"}
)
Disconnected = Callable[[], Awaitable[Any]]
TOKENS = "tokens"  # the phone pool's queue of token redemptions


@dataclass(frozen=True)
class PhoneAnswer:
    """What an endpoint answers: status, body and the headers that belong to the answer itself."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


def json_answer(status: int, data: Any, headers: tuple[tuple[str, str], ...] = ()) -> PhoneAnswer:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return PhoneAnswer(status, body, (("Content-Type", JSON_TYPE), *headers))


def error_answer(error: ApiError) -> PhoneAnswer:
    return json_answer(
        error.status, error_body(error.code, error.message, error.fields), tuple(error.headers.items())
    )


def answering_errors(
    endpoint: Callable[P, Coroutine[Any, Any, PhoneAnswer]],
) -> Callable[P, Coroutine[Any, Any, PhoneAnswer]]:
    """Bad input and an unreachable database become their answers, never an exception."""

    @wraps(endpoint)
    async def answer(*args: P.args, **kwargs: P.kwargs) -> PhoneAnswer:
        try:
            return await endpoint(*args, **kwargs)
        except ApiError as error:
            return error_answer(error)
        except DatabaseError as error:
            log.error("database unavailable", extra={"error": type(error).__name__})
            return error_answer(UNAVAILABLE)

    return answer


def outcome_answer(outcome: Outcome) -> PhoneAnswer:
    if outcome.error_code:
        return error_answer(
            ApiError(outcome.status, outcome.error_code, outcome.message, headers=outcome.headers)
        )
    return json_answer(outcome.status, outcome.body)


def phone_client(ip: str | None, user_agent: str, device_id: str, app: PhoneAppInfo | None) -> Client:
    return Client(
        device_id=device_id,
        platform=(app.platform or "") if app else "",
        version=(app.version or "") if app else "",
        ip=ip,
        user_agent=user_agent[:300],
    )


def check_rate(limit: str, identity: str) -> None:
    refuse_if_limited(ratelimit.hit(limit, identity))


def refuse_if_limited(wait: int | None) -> None:
    """429 when a rate limit said how long to wait (ratelimit.hit)."""
    if wait is not None:
        raise ApiError(429, *RATE_LIMITED, headers={"Retry-After": str(max(1, wait))})


def queue_for(provider_id: str | None) -> None:
    """This request's blocking work waits in its App's queue when this process has found the App
    served (a config read or a provisioning lookup), else in the one queue of everything else
    (serving/pools.py)."""
    key = provider_id.lower() if provider_id and PROVIDER_ID_RE.match(provider_id) else None
    queue_as(key if key and config_cache().known_served(key) else UNKNOWN)


# --- GET /providers/{providerId}/config ------------------------------------------------------


def etag_matches(header: str, etag: str) -> bool:
    if header == etag:  # a phone sends back the ETag it was given: no need to parse the header
        return True
    if not header:
        return False
    candidates = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return etag in candidates or "*" in candidates


def config_reply(rendered: RenderedConfig | None, if_none_match: str) -> PhoneAnswer:
    if rendered is None:
        return error_answer(provider_not_found())
    validators = (("ETag", rendered.etag), ("Cache-Control", "no-cache"))
    if etag_matches(if_none_match, rendered.etag):
        return PhoneAnswer(304, b"", validators)
    return PhoneAnswer(200, rendered.body, (("Content-Type", JSON_TYPE), *validators))


@dataclass(frozen=True)
class Prepared:
    """The answers to a config kept in memory, built once per rendering."""

    entry: bytes  # the cache's bytes object: a save replaces it, so identity tells a new rendering
    etag: str | None  # None for an unknown ProviderId
    found: PhoneAnswer
    not_modified: PhoneAnswer | None


_prepared: dict[str, Prepared] = {}
MAX_PREPARED = 10_000


def config_from_memory(provider_id: str, if_none_match: str) -> PhoneAnswer | None:
    """The answer when this process holds it in memory (no I/O, for the loop itself), else None."""
    key = provider_id.lower()
    entry = config_cache().peek(key)
    if entry is None:
        return None
    prepared = _prepared.get(key)
    if prepared is None or prepared.entry is not entry:
        prepared = _prepare(key, entry)
    if prepared.etag and etag_matches(if_none_match, prepared.etag):
        return prepared.not_modified
    return prepared.found


def _prepare(key: str, entry: bytes) -> Prepared:
    found = parse_entry(entry)
    if found == MISSING:
        prepared = Prepared(entry, None, error_answer(provider_not_found()), None)
    else:
        assert isinstance(found, RenderedConfig)
        prepared = Prepared(entry, found.etag, config_reply(found, ""), config_reply(found, found.etag))
    if len(_prepared) >= MAX_PREPARED:
        _prepared.clear()
    _prepared[key] = prepared
    return prepared


@answering_errors
async def config_answer(provider_id: str, if_none_match: str = "") -> PhoneAnswer:
    if not PROVIDER_ID_RE.match(provider_id):
        return error_answer(provider_not_found())
    answer = config_from_memory(provider_id, if_none_match)
    if answer is not None:
        return answer
    queue_as(UNKNOWN)  # not in memory: not known to be served
    return config_reply(await run_blocking(get_rendered_config, provider_id), if_none_match)


# --- POST /provision --------------------------------------------------------------------------


def split_username(username: str, provider_id: str | None) -> tuple[str, str]:
    """Generic users type `username:ProviderId` in one field; split at the last ':'."""
    if provider_id:
        return username, provider_id
    name, sep, suffix = username.rpartition(":")
    if not sep or not name:
        raise ApiError(
            422,
            "invalid_request",
            "Give providerId, or type the username as username:ProviderId.",
            fields={"providerId": "This field is required."},
        )
    return name, suffix


def begin_provision(payload: ProvisionIn, client: Client) -> ProviderCall | Outcome:
    """Everything before the provider is asked (blocking: rate limits, the App, the ledger).

    The App and the device come first, so that the common call's two rate limits and the
    breaker's state are read in one round trip; every other answer counts the address's
    requests on its own first, as before, so a flood of made-up ProviderIds is still limited.
    """
    ip = client.ip or "unknown"
    try:
        username, provider_id = split_username(payload.username, payload.providerId)
    except ApiError:
        check_rate("provision_ip", ip)
        raise
    found = (
        enabled_app_and_device(provider_id, client.device_id) if PROVIDER_ID_RE.match(provider_id) else None
    )
    if found is not None:
        require_config_in_memory(found[0])
    if found is None or not found[0].is_external:
        check_rate("provision_ip", ip)
    if found is None:
        raise provider_not_found()
    config_cache().remember_served(provider_id.lower())  # its next requests get a queue of their own
    app, device = found
    if not app.is_external:
        raise ApiError(
            409,
            "external_provisioning_disabled",
            "This provider does not use login credentials. Scan your QR code or enter your SIP account.",
        )
    user = f"{app.pk}:{username}"
    together = ratelimit.hits_and_flags(
        [("provision_ip", ip), ("provision_user", user)], breaker_for(app.pk).flag_keys
    )
    if together is None:
        check_rate("provision_ip", ip)
        check_rate("provision_user", user)
        flags = None
    else:
        (ip_wait, user_wait), flags = together
        refuse_if_limited(ip_wait)
        refuse_if_limited(user_wait)
    return begin_external(
        app,
        username,
        payload.password,
        client,
        reprovision=payload.reprovision,
        state=device,
        breaker_flags=flags,
    )


@answering_errors
async def provision_answer(
    payload: ProvisionIn, client: Client, disconnected: Disconnected | None = None
) -> PhoneAnswer:
    queue_for(payload.providerId or payload.username.rpartition(":")[2])
    begun = await run_quick(begin_provision, payload, client)
    if isinstance(begun, ProviderCall):
        begun = await complete_external(begun, disconnected)
    return outcome_answer(begun)


# --- POST /tokens/redeem ----------------------------------------------------------------------


def begin_redeem(payload: RedeemIn, client: Client) -> tuple[Claim, ProviderCall | Outcome]:
    """Take one redemption and provision from it, up to the provider's call if one is needed."""
    check_rate("redeem_ip", client.ip or "unknown")
    taken = claim(payload.token, client.device_id, client.ip, client.user_agent)
    if taken is None:
        raise token_invalid()
    return taken, begin_for_end_user(taken.token.end_user, taken.token.app, client, "token")


def finish_redeem(taken: Claim, outcome: Outcome) -> PhoneAnswer:
    """The answer; a redemption that delivered no accounts is given back (blocking)."""
    if not outcome.delivered_accounts:
        give_back(taken)
    if outcome.error_code:
        return outcome_answer(outcome)
    app = taken.token.app
    rendered = get_rendered_config(app.provider_id)
    if rendered is None:  # the App was disabled in the meantime
        raise token_invalid()
    return json_answer(200, {"providerId": app.provider_id, **outcome.body, "config": rendered.document()})


@answering_errors
async def redeem_answer(
    payload: RedeemIn, client: Client, disconnected: Disconnected | None = None
) -> PhoneAnswer:
    queue_as(TOKENS)  # whose token it is, only the database knows
    taken, begun = await run_blocking(begin_redeem, payload, client)
    if isinstance(begun, ProviderCall):
        begun = await complete_external(begun, disconnected)
    return await run_blocking(finish_redeem, taken, begun)


# --- POST /codes/parse ------------------------------------------------------------------------


@answering_errors
async def parse_answer(payload: ParseIn, ip: str | None) -> PhoneAnswer:
    await run_blocking(check_rate, "parse_ip", ip or "unknown")
    try:
        # Bounded work on the loop: the request body is capped, and so is a code (codes/formats.py).
        return json_answer(200, parse_code(payload.code).to_json())
    except CodeError as error:
        raise ApiError(
            422, "invalid_code", f"This code cannot be read: {error}.", fields={"code": str(error)}
        ) from None


# --- GET /linphone/{token} and GET /providers/{providerId}/linphone (docs/linphone.md) --------


def linphone_reply(answer: linphone.Answer) -> PhoneAnswer:
    return PhoneAnswer(
        answer.status, answer.body, (("Content-Type", answer.content_type), *answer.headers.items())
    )


@answering_errors
async def linphone_enduser_answer(
    token: str, ip: str | None, user_agent: str, browser: bool = False
) -> PhoneAnswer:
    queue_as(TOKENS)
    begun = await run_blocking(linphone.begin_enduser, token, ip, user_agent, browser=browser)
    if isinstance(begun, linphone.Answer):
        return linphone_reply(begun)
    outcome = begun.provisioned
    if isinstance(outcome, ProviderCall):
        outcome = await complete_external(outcome)
    return linphone_reply(await run_blocking(linphone.finish_enduser, begun, outcome))


@answering_errors
async def linphone_app_answer(provider_id: str) -> PhoneAnswer:
    queue_for(provider_id)
    return linphone_reply(await run_blocking(linphone.serve_app, provider_id))


def asks_for_html(accept: str) -> bool:
    # Linphone sends no Accept header (or */*); browsers navigating ask for HTML first.
    return "text/html" in accept


# --- The same endpoints as django-ninja routes (OpenAPI, and Django's own request cycle) --------

router = Router(tags=["phone"])


def through_django(endpoint: Callable[..., Coroutine[Any, Any, PhoneAnswer]], *args: Any) -> HttpResponse:
    """Run an endpoint from a Django view: its blocking work runs on this thread (pools.py)."""
    with blocking_on_caller_thread():
        answer = async_to_sync(endpoint)(*args)
    response = HttpResponse(answer.body, status=answer.status)
    if not any(name == "Content-Type" for name, _ in answer.headers):
        del response["Content-Type"]  # a 304 has no body to describe
    for name, value in answer.headers:
        response[name] = value
    return response


def django_client(request: HttpRequest, device_id: str, app: PhoneAppInfo | None) -> Client:
    return phone_client(request_client_ip(request), request.headers.get("User-Agent", ""), device_id, app)


@router.get(
    "/providers/{provider_id}/config",
    response={200: PublicConfigOut, 304: None, 404: ErrorOut},
    summary="Public configuration of a provider's softphone",
    url_name="provider_config",
)
def provider_config(request: HttpRequest, provider_id: str) -> HttpResponse:
    return through_django(config_answer, provider_id, request.headers.get("If-None-Match", ""))


@router.post(
    "/provision",
    response={
        200: ProvisionOut,
        404: ErrorOut,
        409: ErrorOut,
        422: ErrorOut,
        429: ErrorOut,
        502: ErrorOut,
        503: ErrorOut,
        504: ErrorOut,
    },
    summary="Provision a phone through the provider's web service",
    url_name="provision",
)
def provision(request: HttpRequest, payload: ProvisionIn) -> HttpResponse:
    return through_django(provision_answer, payload, django_client(request, payload.deviceId, payload.app))


@router.post(
    "/tokens/redeem",
    response={
        200: RedeemOut,
        404: ErrorOut,
        422: ErrorOut,
        429: ErrorOut,
        502: ErrorOut,
        503: ErrorOut,
        504: ErrorOut,
    },
    summary="Redeem a one-time setup token: configuration and complete accounts in one call",
    url_name="redeem_token",
)
def redeem_token(request: HttpRequest, payload: RedeemIn) -> HttpResponse:
    return through_django(redeem_answer, payload, django_client(request, payload.deviceId, payload.app))


@router.post(
    "/codes/parse",
    response={200: ParsedCodeOut, 422: ErrorOut, 429: ErrorOut},
    summary="Parse a QR or link code without redeeming it or calling upstream",
    url_name="parse_code",
)
def parse(request: HttpRequest, payload: ParseIn) -> HttpResponse:
    return through_django(parse_answer, payload, request_client_ip(request))
