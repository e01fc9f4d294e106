"""The one outbound client for calls to a provider's provisioning web service (SPEC 6.1, 6.2).

Every call: check the URL, resolve the host once and check every address, connect only to
those addresses (GuardedTransport; no second lookup, so DNS rebinding cannot swap the target),
never follow redirects, and stop at a hard deadline and a body cap. The outcome is an
UpstreamResult whose `detail` is safe to store: it never holds the password, the auth header or
the query string.
"""

from __future__ import annotations

import functools
import re
import select
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any
from urllib.parse import quote

import httpcore2
import httpx2

from sessioncloud import __version__
from sessioncloud.provisioning.answer import (
    MAX_BODY_BYTES,
    BadAnswer,
    ProviderAnswer,
    parse_provider_answer,
)
from sessioncloud.provisioning.breaker import CircuitBreaker
from sessioncloud.provisioning.guard import (
    GuardError,
    OutboundPolicy,
    ParsedTarget,
    check_url,
    resolve_checked,
)
from sessioncloud.provisioning.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

USER_AGENT = f"SessionCloud/{__version__}"
CONNECT_TIMEOUT = 3.0
MAX_TIMEOUT = 15.0
BODY_PREVIEW_CHARS = 32 * 1024
MASK = "***"
_PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]*$")

PROVIDER_TIMEOUT = "provider_timeout"
PROVIDER_UNREACHABLE = "provider_unreachable"
PROVIDER_BAD_RESPONSE = "provider_bad_response"
PROVIDER_ERROR = "provider_error"

# getaddrinfo cannot be given a timeout, so lookups run here and the caller stops waiting at
# its deadline. A hung resolver then holds one of these threads, never a web worker.
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

    @property
    def ok(self) -> bool:
        return self.error_code is None


class _Failure(Exception):
    def __init__(self, code: str, detail: str, status: int | None = None, body: bytes = b""):
        super().__init__(detail)
        self.code, self.detail, self.status, self.body = code, detail, status, body
        self.reasons: tuple[str, ...] = ()


def call_provider(
    request: UpstreamRequest,
    policy: OutboundPolicy,
    breaker: CircuitBreaker | None = None,
    *,
    ssl_context: ssl.SSLContext | None = None,
    clock: Callable[[], float] = time.time,
) -> UpstreamResult:
    """Call the provider's service once and validate its answer; never raises for its failures.

    `ssl_context` replaces the system trust store (for a private CA); `clock` dates signatures.
    """
    started = time.monotonic()
    masked = masked_request(request)
    try:
        target = check_url(request.url, policy)
    except GuardError as error:
        return _failed(started, masked, _Failure(PROVIDER_UNREACHABLE, f"refused: {error.message}"))
    if breaker is not None and not breaker.allow():
        return _failed(started, masked, _Failure(PROVIDER_UNREACHABLE, "circuit open"))
    result = _call(request, policy, target, started, masked, ssl_context, clock)
    if breaker is not None:
        _record(breaker, result)
    return result


def provider_url(request: UpstreamRequest, mask_password: bool = False) -> str:
    """The configured URL with the four compatible parameters appended (SPEC 6.1)."""
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


def _call(
    request: UpstreamRequest,
    policy: OutboundPolicy,
    target: ParsedTarget,
    started: float,
    masked: MaskedRequest,
    ssl_context: ssl.SSLContext | None,
    clock: Callable[[], float],
) -> UpstreamResult:
    deadline = started + min(max(request.timeout_seconds, 0.1), MAX_TIMEOUT)
    try:
        addresses = _resolve_before(target, policy, deadline, request.timeout_seconds)
        status, body = _exchange(request, target, addresses, deadline, ssl_context, clock)
        if not 200 <= status < 300:
            raise _Failure(PROVIDER_ERROR, f"the provider answered HTTP {status}", status, body)
        answer = _parse(body, status)
    except _Failure as failure:
        failure.detail = _scrub(failure.detail, request)
        return _failed(started, masked, failure)
    detail = f"HTTP {status}, {len(answer.sipaccounts)} SIP account(s)"
    return UpstreamResult(None, detail, _elapsed_ms(started), masked, status, _preview(body), answer)


def _resolve_before(target: ParsedTarget, policy: OutboundPolicy, deadline: float, timeout: float) -> list[str]:
    try:
        if target.ip is not None:
            return resolve_checked(target.host, target.port, policy)
        future = _resolver_pool.submit(resolve_checked, target.host, target.port, policy)
        return future.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        raise _Failure(PROVIDER_TIMEOUT, f"DNS lookup for {target.host} took longer than {timeout:g} s") from None
    except GuardError as error:
        prefix = "" if error.code == "dns_failed" else "refused: "
        raise _Failure(PROVIDER_UNREACHABLE, prefix + error.message) from None


def _exchange(
    request: UpstreamRequest,
    target: ParsedTarget,
    addresses: list[str],
    deadline: float,
    ssl_context: ssl.SSLContext | None,
    clock: Callable[[], float],
) -> tuple[int, bytes]:
    http_request = _build_request(request)
    transport = GuardedTransport(_checked_host(http_request.url, target), addresses, deadline, ssl_context=ssl_context)
    _sign(http_request, request.signing_secrets, clock)
    remaining = max(0.001, deadline - time.monotonic())
    timeout = httpx2.Timeout(remaining, connect=min(CONNECT_TIMEOUT, remaining))
    where = f"{target.host}:{target.port}"
    # Straight to the transport: the Client layer (auth flows, redirects, cookies, event hooks)
    # has nothing to do for one GET that follows no redirect, and costs about 350 µs of CPU.
    # The request is the same httpx2.Request, so the bytes on the wire are the same.
    http_request.extensions["timeout"] = timeout.as_dict()
    try:
        with transport:
            response = transport.handle_request(http_request)
            try:
                return response.status_code, _read_body(response)
            finally:
                response.close()
    except httpx2.ConnectTimeout:
        raise _Failure(PROVIDER_TIMEOUT, f"connecting to {where} timed out") from None
    except httpx2.TimeoutException:
        raise _Failure(PROVIDER_TIMEOUT, f"no complete answer from {where} within {request.timeout_seconds:g} s") from None
    except httpx2.ConnectError as error:
        raise _Failure(PROVIDER_UNREACHABLE, f"could not connect to {where}: {error}") from None
    except httpx2.RemoteProtocolError as error:
        raise _Failure(PROVIDER_BAD_RESPONSE, f"invalid HTTP answer from {where}: {error}") from None
    except httpx2.LocalProtocolError:
        raise _Failure(PROVIDER_UNREACHABLE, "the request could not be sent") from None
    except httpx2.HTTPError as error:
        raise _Failure(PROVIDER_UNREACHABLE, f"connection to {where} failed: {error}") from None


def _build_request(request: UpstreamRequest) -> httpx2.Request:
    # Checked here rather than left to h11, whose error message would quote the header value.
    if request.auth_header and not _PRINTABLE_ASCII.match(request.auth_header):
        raise _Failure(PROVIDER_UNREACHABLE, "the auth header value must be printable ASCII")
    try:
        return httpx2.Request("GET", provider_url(request), headers=_headers(request))
    except (httpx2.InvalidURL, ValueError):
        raise _Failure(PROVIDER_UNREACHABLE, "refused: the URL cannot be used") from None


def _read_body(response: httpx2.Response) -> bytes:
    """The raw body, refusing redirects and compression before reading and stopping at the cap."""
    status = response.status_code
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        where = _without_query(location) or "(no Location)"
        raise _Failure(PROVIDER_BAD_RESPONSE, f"redirect to {where} not followed", status)
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        # We asked for identity; inflating anyway would let a tiny gzip bomb eat the memory.
        raise _Failure(PROVIDER_BAD_RESPONSE, f"compressed answer refused (Content-Encoding: {encoding[:40]})", status)
    if _declared_length(response) > MAX_BODY_BYTES:
        raise _Failure(PROVIDER_BAD_RESPONSE, f"answer larger than {MAX_BODY_BYTES} bytes", status)
    chunks, size = [], 0
    for chunk in response.iter_raw():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _Failure(PROVIDER_BAD_RESPONSE, f"answer larger than {MAX_BODY_BYTES} bytes", status)
        chunks.append(chunk)
    return b"".join(chunks)


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


def _sign(http_request: httpx2.Request, secrets: Iterable[str], clock: Callable[[], float]) -> None:
    secrets = tuple(secrets)
    if not secrets:
        return
    timestamp = int(clock())
    # Sign the target exactly as it goes on the wire, after httpx2's own URL normalisation.
    path_and_query = http_request.url.raw_path.decode("ascii")
    http_request.headers[TIMESTAMP_HEADER] = str(timestamp)
    http_request.headers[SIGNATURE_HEADER] = sign(secrets, timestamp, "GET", path_and_query)


def _checked_host(url: httpx2.URL, target: ParsedTarget) -> str:
    """httpx2's reading of the URL's host, refused unless it is the host the guard checked."""
    host = url.raw_host.decode("ascii")
    if host.removesuffix(".") == target.host or (target.ip is not None and _is_ip(host) and ip_address(host) == target.ip):
        return host
    raise _Failure(PROVIDER_UNREACHABLE, "refused: the URL's host is ambiguous")


def _record(breaker: CircuitBreaker, result: UpstreamResult) -> None:
    # Only signs of a dead or overloaded service count; a 4xx or a bad body answers quickly.
    dead = result.error_code in (PROVIDER_TIMEOUT, PROVIDER_UNREACHABLE)
    overloaded = result.error_code == PROVIDER_ERROR and (result.status or 0) >= 500
    if dead or overloaded:
        breaker.record_failure()
    else:
        breaker.record_success()


def _failed(started: float, masked: MaskedRequest, failure: _Failure) -> UpstreamResult:
    return UpstreamResult(
        error_code=failure.code,
        detail=failure.detail,
        latency_ms=_elapsed_ms(started),
        masked_request=masked,
        status=failure.status,
        body_text=_preview(failure.body),
        reasons=failure.reasons,
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


def _declared_length(response: httpx2.Response) -> int:
    try:
        return int(response.headers.get("content-length", "0"))
    except ValueError:
        return 0


def _preview(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")[:BODY_PREVIEW_CHARS]


def _encode(value: str) -> str:
    return quote(value, safe="")


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _is_ip(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        return False
    return True


# --- The transport: connect only to checked addresses, within the call's deadline ----------


class GuardedTransport(httpx2.HTTPTransport):
    """An httpx2 transport that connects to the pre-checked addresses of one host, nothing else.

    The URL keeps its hostname, so the Host header, TLS SNI and certificate verification all use
    the name; only the TCP connection is pinned to the addresses the guard approved.
    """

    def __init__(
        self,
        host: str,
        addresses: list[str],
        deadline: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        context = ssl_context or _system_ssl_context()
        super().__init__(verify=context, trust_env=False)
        # HTTPTransport takes no network backend, so its pool is replaced by one that uses ours
        # (httpx2 is pinned; tests/provisioning prove the pinning on every upgrade).
        self._pool = httpcore2.ConnectionPool(
            ssl_context=context,
            max_connections=1,
            max_keepalive_connections=0,
            network_backend=PinnedBackend(host, addresses, deadline),
        )


@functools.cache
def _system_ssl_context() -> ssl.SSLContext:
    # Loading the system trust store costs ~20 ms; one shared context serves every call.
    return httpx2.create_ssl_context(trust_env=False)


class PinnedBackend(httpcore2.NetworkBackend):
    """Opens TCP connections to the checked addresses of `host`; refuses any other host."""

    def __init__(self, host: str, addresses: list[str], deadline: float) -> None:
        self._host = host
        self._addresses = addresses
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        if host != self._host:
            raise httpcore2.ConnectError(f"{host} was not checked by the outbound guard")
        error: httpcore2.ConnectError | httpcore2.ConnectTimeout | None = None
        for address in self._addresses:
            try:
                budget = _budget(self._deadline, timeout, httpcore2.ConnectTimeout)
                return DeadlineStream(_open_socket(address, port, budget, socket_options), self._deadline)
            except TimeoutError as exc:
                error = httpcore2.ConnectTimeout(str(exc) or "timed out")
            except OSError as exc:
                error = httpcore2.ConnectError(str(exc))
        raise error or httpcore2.ConnectError("no address to connect to")

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.NetworkStream:
        raise httpcore2.ConnectError("unix sockets are never a provider")


class DeadlineStream(httpcore2.NetworkStream):
    """A socket stream whose every read and write stops at the call's deadline.

    httpx2's timeouts restart on each read, so a server dripping one byte a second could hold
    a worker forever; clamping every operation to the time left makes the deadline absolute.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._sock.settimeout(_budget(self._deadline, timeout, httpcore2.ReadTimeout))
        try:
            return self._sock.recv(max_bytes)
        except TimeoutError as exc:
            raise httpcore2.ReadTimeout(str(exc) or "timed out") from exc
        except OSError as exc:
            raise httpcore2.ReadError(str(exc)) from exc

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        view = memoryview(buffer)
        while view:
            self._sock.settimeout(_budget(self._deadline, timeout, httpcore2.WriteTimeout))
            try:
                view = view[self._sock.send(view) :]
            except TimeoutError as exc:
                raise httpcore2.WriteTimeout(str(exc) or "timed out") from exc
            except OSError as exc:
                raise httpcore2.WriteError(str(exc)) from exc

    def close(self) -> None:
        self._sock.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore2.NetworkStream:
        self._sock.settimeout(_budget(self._deadline, timeout, httpcore2.ConnectTimeout))
        try:
            tls_sock = ssl_context.wrap_socket(self._sock, server_hostname=server_hostname)
        except TimeoutError as exc:
            self.close()
            raise httpcore2.ConnectTimeout(str(exc) or "timed out") from exc
        except OSError as exc:
            self.close()
            raise httpcore2.ConnectError(str(exc)) from exc
        return DeadlineStream(tls_sock, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            # httpcore2 only asks it for the negotiated ALPN protocol, which SSLSocket answers.
            return self._sock if isinstance(self._sock, ssl.SSLSocket) else None
        if info == "client_addr":
            return self._sock.getsockname()
        if info == "server_addr":
            return self._sock.getpeername()
        if info == "socket":
            return self._sock
        if info == "is_readable":
            readable, _, _ = select.select([self._sock], [], [], 0)
            return bool(readable)
        return None


def _budget(deadline: float, timeout: float | None, error: type[Exception]) -> float:
    """The time an operation may take: its own timeout, but never past the deadline."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise error("the call's total timeout passed")
    return remaining if timeout is None else min(timeout, remaining)


def _open_socket(address: str, port: int, timeout: float, options: Iterable[Any] | None) -> socket.socket:
    # A numeric address and an explicit family: socket.create_connection would call
    # getaddrinfo again, which is exactly the second lookup this module exists to avoid.
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        for option in options or ():
            sock.setsockopt(*option)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock
