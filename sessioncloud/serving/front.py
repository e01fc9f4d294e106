"""The application granian serves (RSGI): the phone API on the event loop, the rest through Django.

Phone requests are answered here, without Django's request cycle: the config from memory when
this process holds it, everything else by the phone API's functions (api/phone.py), whose
blocking work goes to the phone pool and whose waits on providers' services hold no thread.
Every other request, and any phone request this front cannot vouch for (a host Django would
refuse, a redirect to HTTPS Django would answer), goes to Django through the bridge, so the
answers are the same either way: tests/serving compares them.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

from pydantic import BaseModel, ValidationError

from sessioncloud.api import phone
from sessioncloud.api.clientinfo import client_ip
from sessioncloud.api.edge import body_problems
from sessioncloud.api.errors import (
    INVALID_JSON,
    ApiError,
    error_body,
    invalid_fields,
    invalid_request,
)
from sessioncloud.api.schemas import ParseIn, ProvisionIn, RedeemIn
from sessioncloud.lib.metrics import REQUEST_STATS
from sessioncloud.provisioning.reuse import keep_connections, stop_keeping
from sessioncloud.serving import pools
from sessioncloud.serving.bridge import BodyTooLarge, DjangoBridge, read_body, split_address
from sessioncloud.serving.headers import MiddlewareHeaders, host_allowed

log = logging.getLogger("sessioncloud.api")

# A phone's request body is small; a code to parse is the largest (codes/formats.py caps it).
MAX_PHONE_BODY = 64 * 1024
CONFIG_PREFIX = "/api/v1/providers/"
CONFIG_SUFFIX = "/config"
CONFIG_ID = slice(len(CONFIG_PREFIX), -len(CONFIG_SUFFIX))  # the ProviderId in a config path
LINPHONE_SUFFIX = "/linphone"
LINPHONE_PREFIX = "/api/v1/linphone/"
HEALTH_BODY = b'{"status":"ok"}'

Handler = Callable[[Any, Any, Any], Awaitable[phone.PhoneAnswer]]  # scope, proto, payload


class Front:
    """RSGI application. Granian calls `__rsgi_init__` and `__rsgi_del__` in each worker."""

    def __init__(self, django_app: Any, *, django_threads: int, phone_threads: int) -> None:
        self.django = DjangoBridge(django_app, django_threads)
        self.phone_threads = phone_threads
        self.headers = MiddlewareHeaders()
        self.posts: dict[str, tuple[str, type[BaseModel], Handler]] = {
            "/api/v1/provision": ("api:provision", ProvisionIn, self.provision),
            "/api/v1/tokens/redeem": ("api:redeem_token", RedeemIn, self.redeem),
            "/api/v1/codes/parse": ("api:parse_code", ParseIn, self.parse),
        }
        self.in_flight: set[asyncio.Task[Any]] = set()

    # --- granian's hooks ----------------------------------------------------------------------

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        pools.start_pools(self.phone_threads)
        pools.start_loop_database()  # the embedded database: provisioning statements on the loop
        keep_connections(loop)  # providers' connections serve more than one call
        # Everything loaded so far (Django, the apps, their modules) lives as long as the worker:
        # moved out of the collector's sight, a full collection no longer walks it, which would
        # otherwise stall every request in the worker for tens of milliseconds now and then.
        gc.collect()
        gc.freeze()

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Shutting down: calls still waiting on providers finish (each within its timeout).
        if self.in_flight:
            loop.run_until_complete(asyncio.wait(set(self.in_flight)))
        stop_keeping(loop)
        self.django.shutdown()
        pools.stop_pools()
        pools.stop_loop_database()

    # --- Routing --------------------------------------------------------------------------------

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        # HTTP only: `serve` runs granian without websockets. Every scope attribute read costs
        # an object built from Rust, so each is read once; the config fetch comes first.
        path = scope.path
        if path.startswith("/api/v1/") or path == "/healthz":
            headers = scope.headers
            extra = self.vouched_headers(scope, headers)
            if extra is not None:
                method = scope.method
                if method == "GET":
                    if path.startswith(CONFIG_PREFIX) and path.endswith(CONFIG_SUFFIX):
                        started = perf_counter()
                        provider_id = path[CONFIG_ID]
                        if_none_match = headers.get("if-none-match") or ""
                        # From memory without a coroutine of its own: the common case costs least.
                        answer = (
                            phone.config_from_memory(provider_id, if_none_match)
                            if "/" not in provider_id
                            else None
                        )
                        if answer is None:
                            answer = await phone.config_answer(provider_id, if_none_match)
                        self.send(proto, "api:provider_config", "GET", answer, extra, started)
                        return
                    if path == "/healthz":
                        self.send(
                            proto,
                            "healthz",
                            "GET",
                            phone.PhoneAnswer(200, HEALTH_BODY, (("Content-Type", "application/json"),)),
                            extra,
                            None,
                        )
                        return
                    if await self.linphone(scope, proto, path, extra):
                        return
                elif method == "POST" and path in self.posts:
                    await self.post(scope, proto, self.posts[path], extra)
                    return
        await self.django(scope, proto)

    def vouched_headers(self, scope: Any, headers: Any) -> list[tuple[str, str]] | None:
        """The headers Django's middleware would add, or None when Django must answer itself."""
        if not host_allowed(headers):
            return None
        return self.headers.for_request(scope, headers)

    # --- The endpoints ------------------------------------------------------------------------

    async def linphone(self, scope: Any, proto: Any, path: str, extra: list[tuple[str, str]]) -> bool:
        """The Linphone addresses (docs/linphone.md); False when `path` is neither."""
        started = perf_counter()
        if path.startswith(LINPHONE_PREFIX) and "/" not in path[len(LINPHONE_PREFIX) :]:
            answer = await self.run(
                phone.linphone_enduser_answer,
                path[len(LINPHONE_PREFIX) :],
                self.client_ip(scope),
                scope.headers.get("user-agent") or "",
                phone.asks_for_html(scope.headers.get("accept") or ""),
            )
            self.send(proto, "linphone_enduser", "GET", answer, extra, started)
            return True
        if path.startswith(CONFIG_PREFIX) and path.endswith(LINPHONE_SUFFIX):
            provider_id = path[len(CONFIG_PREFIX) : -len(LINPHONE_SUFFIX)]
            if "/" not in provider_id:
                answer = await self.run(phone.linphone_app_answer, provider_id)
                self.send(proto, "linphone_app", "GET", answer, extra, started)
                return True
        return False

    async def post(
        self,
        scope: Any,
        proto: Any,
        route: tuple[str, type[BaseModel], Handler],
        extra: list[tuple[str, str]],
    ) -> None:
        started = perf_counter()
        endpoint, schema, handler = route
        try:
            body = await read_body(proto, MAX_PHONE_BODY)
            refused = body_problems(body)  # NUL or a huge number: as Django's edge check answers
            payload = None if refused else schema.model_validate_json(body)
        except BodyTooLarge:
            answer = phone.error_answer(ApiError(413, "payload_too_large", "The request body is too large."))
        except ValidationError as error:
            errors = error.errors()
            bad_json = any(item.get("type") == "json_invalid" for item in errors)
            answer = phone.error_answer(INVALID_JSON if bad_json else invalid_request(errors))
        else:
            answer = (
                phone.error_answer(invalid_fields(refused))
                if refused
                else await self.run(handler, scope, proto, payload)
            )
        self.send(proto, endpoint, "POST", answer, extra, started)

    async def run(
        self, endpoint: Callable[..., Awaitable[phone.PhoneAnswer]], *args: Any
    ) -> phone.PhoneAnswer:
        """Run an endpoint as a task the shutdown waits for; never lets an exception out."""
        task = asyncio.ensure_future(endpoint(*args))
        self.in_flight.add(task)
        try:
            return await task
        except Exception:
            log.exception("phone API request failed")
            return phone.json_answer(500, error_body("internal_error", "Something went wrong on our side."))
        finally:
            self.in_flight.discard(task)

    async def provision(self, scope: Any, proto: Any, payload: ProvisionIn) -> phone.PhoneAnswer:
        client = phone.phone_client(
            self.client_ip(scope), scope.headers.get("user-agent") or "", payload.deviceId, payload.app
        )
        return await phone.provision_answer(payload, client, proto.client_disconnect)

    async def redeem(self, scope: Any, proto: Any, payload: RedeemIn) -> phone.PhoneAnswer:
        client = phone.phone_client(
            self.client_ip(scope), scope.headers.get("user-agent") or "", payload.deviceId, payload.app
        )
        return await phone.redeem_answer(payload, client, proto.client_disconnect)

    async def parse(self, scope: Any, proto: Any, payload: ParseIn) -> phone.PhoneAnswer:
        return await phone.parse_answer(payload, self.client_ip(scope))

    @staticmethod
    def client_ip(scope: Any) -> str | None:
        return client_ip(split_address(scope.client)[0], scope.headers.get("x-forwarded-for") or "")

    # --- Answers --------------------------------------------------------------------------------

    def send(
        self,
        proto: Any,
        endpoint: str,
        method: str,
        answer: phone.PhoneAnswer,
        extra: list[tuple[str, str]],
        started: float | None,
    ) -> None:
        if answer.status == 499:  # the phone went away: nobody to answer
            return
        try:
            proto.response_bytes(answer.status, [*answer.headers, *extra], answer.body)
        except RuntimeError:  # the connection closed meanwhile
            return
        REQUEST_STATS.observe(
            endpoint, method, answer.status, None if started is None else perf_counter() - started
        )


def application() -> Front:
    """The front for this process: Django set up, pools sized from the server's settings."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sessioncloud.settings")
    from django.core.wsgi import get_wsgi_application

    django_app = get_wsgi_application()
    return Front(
        django_app,
        django_threads=int(os.environ.get("SESSIONCLOUD_DJANGO_THREADS", "16")),
        phone_threads=pools.configured_phone_threads(),
    )
