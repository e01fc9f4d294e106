"""The one outbound client for calls to a provider's provisioning web service.

The contract is docs/provider-service.md. Every call: check the URL, resolve the host once and
check every address, connect only to those addresses (no second lookup, so DNS rebinding
cannot swap the target), follow at most three redirects and only within the
configured URL's origin (each hop checked, pinned to the same addresses and signed afresh), and
stop at one absolute deadline and a body cap. The outcome is an UpstreamResult whose `detail` is
safe to store: it never holds the password, the auth header or the query string.

Calls run on an event loop: a wait on a provider's service holds no thread. Only the address
lookup runs in a small pool of its own, because getaddrinfo cannot be interrupted.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx2

from sessioncloud import __version__
from sessioncloud.provisioning.answer import (
    BadAnswer,
    ProviderAnswer,
    parse_provider_answer,
)
from sessioncloud.provisioning.guard import (
    GuardError,
    OutboundPolicy,
    ParsedTarget,
    check_url,
    resolve_checked,
)
from sessioncloud.provisioning.reuse import KeptConnections, Place, kept_connections
from sessioncloud.provisioning.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from sessioncloud.provisioning.wire import (
    Answer,
    AnswerReader,
    BadHttp,
    PinnedConnection,
    Refused,
    request_head,
)

USER_AGENT = f"SessionCloud/{__version__}"
CONNECT_TIMEOUT = 3.0
MAX_TIMEOUT = 15.0
MAX_REDIRECTS = 3
BODY_PREVIEW_CHARS = 32 * 1024
MASK = "***"
_PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]*$")
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"
DEFAULT_PORTS = {"http": 80, "https": 443}

PROVIDER_TIMEOUT = "provider_timeout"
PROVIDER_UNREACHABLE = "provider_unreachable"
PROVIDER_BAD_RESPONSE = "provider_bad_response"
PROVIDER_ERROR = "provider_error"

# getaddrinfo cannot be given a timeout, so lookups run here and the caller stops waiting at
# its deadline. A hung resolver then holds one of these threads, never the event loop.
_resolver_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="sessioncloud-dns")


@dataclass(frozen=True)
class UpstreamRequest:
    url: str  # the App's configured URL, without the four compatible parameters
    username: str  # provisioning username, without any `:ProviderId` suffix
    password: str
    device_id: str = ""
    reprovision: bool = False
    auth_header: str | None = None  # sent as `Authorization: <value>`
    signing_secrets: tuple[str, ...] = ()
    timeout_seconds: float = 8.0


@dataclass(frozen=True)
class MaskedRequest:
    """The request as the test bench shows it: password, auth header and signature masked."""

    method: str
    url: str
    headers: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "url": self.url, "headers": dict(self.headers)}


@dataclass(frozen=True)
class UpstreamResult:
    error_code: str | None  # None on success, else one of the PROVIDER_* codes
    detail: str  # technical, for the provisioning log; never holds a secret or the query
    latency_ms: int
    masked_request: MaskedRequest
    status: int | None = None
    body_text: str = ""  # the raw answer, truncated, for the test bench
    answer: ProviderAnswer | None = None
    reasons: tuple[str, ...] = field(default=())  # every validation problem of the answer
    # A sign that the service itself is unwell (no answer in time, no connection, a 5xx), as
    # opposed to an answer it gave on purpose or a URL this deployment refuses to call.
    unhealthy: bool = False
    redirects: tuple[str, ...] = ()  # the URLs followed, without their queries
    # The connection that carried the last request: "new", "kept" (from an earlier call), or
    # "" when none did (refused by the guard, or no connection could be made).
    connection: str = ""

    @property
    def ok(self) -> bool:
        return self.error_code is None


class _Failure(Exception):
    def __init__(
        self, code: str, detail: str, status: int | None = None, body: bytes = b"", *, unhealthy: bool = False
    ):
        super().__init__(detail)
        self.code, self.detail, self.status, self.body = code, detail, status, body
        self.unhealthy = unhealthy
        self.reasons: tuple[str, ...] = ()


class _Progress:
    """How far a call got, so a timeout can say which step it cut short."""

    def __init__(self, target: ParsedTarget, timeout: float) -> None:
        self.where = f"{target.host}:{target.port}"
        self.host = target.host
        self.timeout = timeout
        self.step = "lookup"
        self.redirects: list[str] = []
        # A kept connection the call was waiting on without one byte of answer, if it still was.
        self.silent_kept: Place | None = None
        self.connection = ""  # "new" or "kept": what carries the request now

    def timed_out(self) -> _Failure:
        if self.step == "lookup":
            detail = f"DNS lookup for {self.host} took longer than {self.timeout:g} s"
        elif self.step == "connect":
            detail = f"connecting to {self.where} timed out"
        else:
            detail = f"no complete answer from {self.where} within {self.timeout:g} s"
        return _Failure(PROVIDER_TIMEOUT, detail, unhealthy=True)


async def call_provider(
    request: UpstreamRequest,
    policy: OutboundPolicy,
    *,
    ssl_context: ssl.SSLContext | None = None,
    clock: Callable[[], float] = time.time,
) -> UpstreamResult:
    """Call the provider's service once and validate its answer; never raises for its failures.

    Cancelling the task (the phone went away) stops the call at once. `ssl_context` replaces
    the system trust store (for a private CA); `clock` dates signatures.
    """
    started = time.monotonic()
    masked = masked_request(request)
    try:
        target = check_url(request.url, policy)
    except GuardError as error:
        return _failed(started, masked, _Failure(PROVIDER_UNREACHABLE, f"refused: {error.message}"))
    progress = _Progress(target, request.timeout_seconds)
    try:
        async with asyncio.timeout(min(max(request.timeout_seconds, 0.1), MAX_TIMEOUT)):
            status, body = await _fetch(request, policy, target, progress, ssl_context, clock)
        if not 200 <= status < 300:
            raise _Failure(
                PROVIDER_ERROR, f"the provider answered HTTP {status}", status, body, unhealthy=status >= 500
            )
        answer = _parse(body, status)
    except TimeoutError:
        if progress.silent_kept is not None and (kept := kept_connections()) is not None:
            kept.distrust(progress.silent_kept)
        return _failed(started, masked, progress.timed_out(), progress)
    except _Failure as failure:
        failure.detail = _scrub(failure.detail, request)
        return _failed(started, masked, failure, progress)
    detail = f"HTTP {status}, {len(answer.sipaccounts)} SIP account(s)"
    if progress.redirects:
        detail += f", after {len(progress.redirects)} redirect(s)"
    return UpstreamResult(
        None,
        detail,
        _elapsed_ms(started),
        masked,
        status,
        _preview(body),
        answer,
        redirects=tuple(progress.redirects),
        connection=progress.connection,
    )


def call_provider_blocking(
    request: UpstreamRequest, policy: OutboundPolicy, **options: Any
) -> UpstreamResult:
    """call_provider for code that has no event loop of its own (the portal's test bench)."""
    return asyncio.run(call_provider(request, policy, **options))


def provider_url(request: UpstreamRequest, mask_password: bool = False) -> str:
    """The configured URL with the four compatible parameters appended (docs/provider-service.md)."""
    base = request.url.split("#", 1)[0]
    separator = "" if base.endswith(("?", "&")) else ("&" if "?" in base else "?")
    password = MASK if mask_password else _encode(request.password)
    query = (
        f"username={_encode(request.username)}&password={password}"
        f"&reprovision={'true' if request.reprovision else 'false'}&deviceId={_encode(request.device_id)}"
    )
    return f"{base}{separator}{query}"


def masked_request(request: UpstreamRequest) -> MaskedRequest:
    headers = _headers(request)
    if request.auth_header:
        headers["Authorization"] = MASK
    if request.signing_secrets:
        headers[TIMESTAMP_HEADER] = "<unix seconds>"
        headers[SIGNATURE_HEADER] = ",".join(f"v1={MASK}" for _ in request.signing_secrets)
    return MaskedRequest(method="GET", url=provider_url(request, mask_password=True), headers=headers)


async def _fetch(
    request: UpstreamRequest,
    policy: OutboundPolicy,
    target: ParsedTarget,
    progress: _Progress,
    ssl_context: ssl.SSLContext | None,
    clock: Callable[[], float],
) -> tuple[int, bytes]:
    """The final status and body, after the lookup and any same-origin redirects."""
    addresses = await _resolve(target, policy)
    url = provider_url(request)
    for hop in range(MAX_REDIRECTS + 1):
        status, location, body = await _exchange(
            url, request, target, addresses, progress, ssl_context, clock
        )
        if location is None:
            return status, body
        if hop == MAX_REDIRECTS:
            break
        url = _redirect_target(url, location, target, policy, status)
        progress.redirects.append(_without_query(url))
    raise _Failure(PROVIDER_BAD_RESPONSE, f"more than {MAX_REDIRECTS} redirects", status)


async def _resolve(target: ParsedTarget, policy: OutboundPolicy) -> list[str]:
    try:
        if target.ip is not None:
            return [target.host]  # a literal address, already checked with the URL
        lookup = _resolver_pool.submit(resolve_checked, target.host, target.port, policy)
        return await asyncio.wrap_future(lookup)
    except GuardError as error:
        prefix = "" if error.code == "dns_failed" else "refused: "
        raise _Failure(
            PROVIDER_UNREACHABLE, prefix + error.message, unhealthy=error.code == "dns_failed"
        ) from None


def _redirect_target(
    current: str, location: str, target: ParsedTarget, policy: OutboundPolicy, status: int
) -> str:
    """The next URL of a redirect, refused unless it stays within the configured URL's origin."""
    if not location.strip():
        raise _Failure(PROVIDER_BAD_RESPONSE, "redirect without a Location header", status)
    try:
        following = urljoin(current, location.strip())
        hop = check_url(following, policy)
    except (GuardError, ValueError):
        raise _Failure(
            PROVIDER_BAD_RESPONSE, f"redirect to {_without_query(location)} not followed", status
        ) from None
    if (hop.scheme, hop.host, hop.port) != (target.scheme, target.host, target.port):
        raise _Failure(
            PROVIDER_BAD_RESPONSE,
            f"redirect to {_without_query(following)} not followed: another origin",
            status,
        )
    return following


async def _exchange(
    url: str,
    request: UpstreamRequest,
    target: ParsedTarget,
    addresses: list[str],
    progress: _Progress,
    ssl_context: ssl.SSLContext | None,
    clock: Callable[[], float],
) -> tuple[int, str | None, bytes]:
    """One GET, on a kept connection or a new one: its status and either a redirect's Location
    or the body."""
    head = _build_request(url, request, target, clock)
    kept = kept_connections()
    reused = _take_kept(kept, target, addresses, ssl_context)
    answer = None if reused is None else await _on_kept_connection(kept, *reused, head, progress)
    if answer is None:
        answer = await _on_new_connection(kept, head, target, addresses, progress, ssl_context)
    return answer.status, answer.location, answer.body


async def _on_kept_connection(
    kept: KeptConnections | None, place: Place, connection: PinnedConnection, head: bytes, progress: _Progress
) -> Answer | None:
    """The answer on a connection kept from an earlier call, or None when the service had closed
    it before reading the request (the request then goes on a new one)."""
    progress.step, progress.connection = "answer", "kept"
    try:
        answer = await _send(connection, head, progress.where)
    except _Failure:
        connection.close()
        if connection.answered_nothing:
            return None
        raise
    except BaseException:  # cancelled: the deadline, or the phone went away
        connection.close()
        progress.silent_kept = place if connection.answered_nothing else None
        raise
    _keep_or_close(kept, place, connection)
    return answer


async def _on_new_connection(
    kept: KeptConnections | None,
    head: bytes,
    target: ParsedTarget,
    addresses: list[str],
    progress: _Progress,
    ssl_context: ssl.SSLContext | None,
) -> Answer:
    progress.step, progress.connection = "connect", ""
    try:
        place, connection = await _connect(target, addresses, target.port, ssl_context)
    except TimeoutError:
        raise _Failure(
            PROVIDER_TIMEOUT, f"connecting to {progress.where} timed out", unhealthy=True
        ) from None
    except ConnectFailed as error:
        raise _Failure(
            PROVIDER_UNREACHABLE, f"could not connect to {progress.where}: {error}", unhealthy=True
        ) from None
    progress.step, progress.connection = "answer", "new"
    try:
        answer = await _send(connection, head, progress.where)
    except BaseException:
        connection.close()
        raise
    _keep_or_close(kept, place, connection)
    return answer


def _take_kept(
    kept: KeptConnections | None, target: ParsedTarget, addresses: list[str], trust: ssl.SSLContext | None
) -> tuple[Place, PinnedConnection] | None:
    """A kept connection to one of this call's checked addresses, if one waits."""
    if kept is None:
        return None
    for address in addresses:
        place = _place(target, address, trust)
        connection = kept.take(place)
        if connection is not None:
            return place, connection
    return None


def _keep_or_close(kept: KeptConnections | None, place: Place, connection: PinnedConnection) -> None:
    if kept is None:
        connection.close()
    else:
        kept.keep(place, connection)


def _place(target: ParsedTarget, address: str, trust: ssl.SSLContext | None) -> Place:
    if target.scheme != "https":
        return Place(target.scheme, address, target.port)
    return Place(target.scheme, address, target.port, target.host if target.ip is None else "", trust)


async def _send(connection: PinnedConnection, head: bytes, where: str) -> Answer:
    """The request on `connection` and its answer; the service's failures as _Failure."""
    try:
        return await connection.exchange(head)
    except BadHttp as error:
        raise _Failure(
            PROVIDER_BAD_RESPONSE, f"invalid HTTP answer from {where}: {error}", unhealthy=True
        ) from None
    except Refused as refused:
        raise _Failure(PROVIDER_BAD_RESPONSE, refused.detail, refused.status) from None
    except OSError as error:
        raise _Failure(
            PROVIDER_UNREACHABLE, f"connection to {where} failed: {_os_error_text(error)}", unhealthy=True
        ) from None


def _build_request(
    url: str, request: UpstreamRequest, target: ParsedTarget, clock: Callable[[], float]
) -> bytes:
    """The GET as it goes on the wire, signed over exactly its target.

    The URL is read by the same parser the guard used (urlsplit), so the host connected to, the
    Host header and the checked host cannot disagree; `target` is that checked reading.
    """
    # Checked here, with a message that does not quote the value (it is a secret).
    if request.auth_header and not _PRINTABLE_ASCII.match(request.auth_header):
        raise _Failure(PROVIDER_UNREACHABLE, "the auth header value must be printable ASCII")
    parts = urlsplit(url)
    # Characters a provider's URL may hold unescaped (non-ASCII) are escaped; escapes and
    # reserved characters stay as they are.
    path_and_query = quote(f"{parts.path or '/'}{'?' if parts.query else ''}{parts.query}", safe=_URL_SAFE)
    host_header = f"[{target.host}]" if ":" in target.host else target.host
    if target.port != DEFAULT_PORTS[target.scheme]:
        host_header += f":{target.port}"
    headers = [
        ("Host", host_header),
        *_headers(request).items(),
        *_signature_headers(request.signing_secrets, path_and_query, clock),
    ]
    try:
        return request_head(path_and_query.encode("ascii"), headers)
    except ValueError:  # a line break or a character HTTP cannot carry: never sent, never quoted
        raise _Failure(PROVIDER_UNREACHABLE, "the request could not be sent") from None


def _parse(body: bytes, status: int) -> ProviderAnswer:
    try:
        return parse_provider_answer(body)
    except BadAnswer as error:
        failure = _Failure(PROVIDER_BAD_RESPONSE, "invalid answer: " + "; ".join(error.reasons), status, body)
        failure.reasons = tuple(error.reasons)
        raise failure from None


def _headers(request: UpstreamRequest) -> dict[str, str]:
    headers = {
        "User-Agent": USER_AGENT,
        "Accept": "application/json",
        "Accept-Encoding": "identity",
    }
    if request.auth_header:
        headers["Authorization"] = request.auth_header
    return headers


def _signature_headers(
    secrets: Iterable[str], path_and_query: str, clock: Callable[[], float]
) -> list[tuple[str, str]]:
    secrets = tuple(secrets)
    if not secrets:
        return []
    timestamp = int(clock())
    return [
        (TIMESTAMP_HEADER, str(timestamp)),
        (SIGNATURE_HEADER, sign(secrets, timestamp, "GET", path_and_query)),
    ]


def _failed(
    started: float, masked: MaskedRequest, failure: _Failure, progress: _Progress | None = None
) -> UpstreamResult:
    return UpstreamResult(
        error_code=failure.code,
        detail=failure.detail,
        latency_ms=_elapsed_ms(started),
        masked_request=masked,
        status=failure.status,
        body_text=_preview(failure.body),
        reasons=failure.reasons,
        unhealthy=failure.unhealthy,
        redirects=tuple(progress.redirects) if progress else (),
        connection=progress.connection if progress else "",
    )


def _scrub(text: str, request: UpstreamRequest) -> str:
    """Belt and braces: whatever a library put in an error message, secrets do not leave."""
    query = provider_url(request).split("?", 1)[1]
    for secret in (query, request.auth_header or "", _encode(request.password), request.password):
        if len(secret) >= 3:  # masking "1" everywhere would garble the message, not protect it
            text = text.replace(secret, MASK)
    return text


def _without_query(text: str) -> str:
    return text.split("?", 1)[0].split("#", 1)[0]


def _preview(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")[:BODY_PREVIEW_CHARS]


def _encode(value: str) -> str:
    return quote(value, safe="")


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# --- The connection: only to checked addresses ----------------------------------------------


@functools.cache
def _system_ssl_context() -> ssl.SSLContext:
    # Loading the system trust store costs ~20 ms; one shared context serves every call.
    return httpx2.create_ssl_context(trust_env=False)


class ConnectFailed(Exception):
    """No checked address took the connection (the message says why, without any secret)."""


async def _connect(
    target: ParsedTarget, addresses: list[str], port: int, ssl_context: ssl.SSLContext | None
) -> tuple[Place, PinnedConnection]:
    """A connection to the first checked address that answers, with TLS for https, and where to.

    TLS uses the URL's host name for SNI and certificate verification: only the TCP connection
    is pinned to the addresses the guard approved.
    """
    failure: BaseException = ConnectFailed("no address to connect to")
    for address in addresses:
        try:
            connection = await _open_connection(address, port, CONNECT_TIMEOUT)
        except TimeoutError as error:
            failure = error
            continue
        except OSError as error:
            failure = ConnectFailed(_os_error_text(error))
            continue
        if target.scheme == "https":
            server_name = None if target.ip is not None else target.host
            try:
                await connection.start_tls(ssl_context or _system_ssl_context(), server_hostname=server_name)
            except OSError as error:  # ssl.SSLError is an OSError
                connection.close()
                raise ConnectFailed(_os_error_text(error)) from error
        return _place(target, address, ssl_context), connection
    raise failure


async def _open_connection(address: str, port: int, timeout: float) -> PinnedConnection:
    # A numeric address, its family given and numeric-only resolution asked for: nothing here
    # may look a name up again, which is exactly the second lookup this module exists to avoid.
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        transport, reader = await loop.create_connection(
            AnswerReader, host=address, port=port, family=family, flags=socket.AI_NUMERICHOST
        )
    return PinnedConnection(transport, reader)


def _os_error_text(error: OSError) -> str:
    # asyncio words a refused connection differently from the socket module; keep one wording.
    if isinstance(error, ssl.SSLError) or not error.errno:
        return str(error)
    return f"[Errno {error.errno}] {os.strerror(error.errno)}"
