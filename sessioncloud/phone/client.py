"""The phone API as a softphone calls it (docs/phone-api.md): config, provision, redeem.

Every answer is checked before the phone uses it, as a real app must: a server that sends a
wrong type, a huge body or no JSON at all becomes a PhoneApiError, never a crash later on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit

import httpx2
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from sessioncloud import __version__
from sessioncloud.lib.sipaccount import describe_validation_error
from sessioncloud.lib.sipmedia import (
    DEFAULT_DTMF_MODE,
    DEFAULT_KEEPALIVE_SECONDS,
    DEFAULT_SRTP_MODE,
)

# Long enough for a provider's slow provisioning service (SessionCloud waits up to 15 s for
# it), short enough that a hung server never hangs a script.
TIMEOUT_SECONDS = 20.0
CONNECT_TIMEOUT_SECONDS = 5.0
# Real answers are a few KB; the cap keeps a hostile server from filling memory.
MAX_ANSWER_BYTES = 1024 * 1024
USER_AGENT = f"SessionCloud-Phone/{__version__}"
APP_INFO = {"platform": "cli", "version": __version__}


class PhoneApiError(Exception):
    """The server answered with an error (docs/phone-api.md's shape) or with something unusable."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class ServerUnreachable(Exception):
    """No HTTP answer at all: refused connection, DNS failure, timeout, TLS failure."""


# --- answer shapes -------------------------------------------------------------------------

Transport = Literal["UDP", "TCP", "TLS"]
Flag = Literal["Enabled", "Disabled"]
SrtpMode = Literal["optional", "mandatory"]
DtmfMode = Literal["rfc2833", "info", "inband"]
Port = Annotated[StrictInt, Field(ge=1, le=65535)]


class _Checked(BaseModel):
    # Unknown keys are allowed: a newer server may add fields an older phone ignores.
    model_config = ConfigDict(extra="allow")


class _Sip(_Checked):
    domain: Annotated[StrictStr, Field(min_length=1)]
    port: Port
    proxy: StrictStr | None
    transport: Transport
    useSubdomains: StrictBool
    srtp: Flag
    messaging: Flag
    video: Flag
    callrecording: Flag
    voicemailNumber: StrictStr | None
    registrationExpires: StrictInt
    stunServer: StrictStr | None = None
    turnServer: StrictStr | None = None
    ice: StrictBool = False
    keepAliveSeconds: StrictInt = DEFAULT_KEEPALIVE_SECONDS
    srtpMode: SrtpMode = DEFAULT_SRTP_MODE
    audioCodecs: list[StrictStr] = []
    videoCodecs: list[StrictStr] = []
    dtmfMode: DtmfMode = DEFAULT_DTMF_MODE
    realm: StrictStr | None = None


class _Login(_Checked):
    mode: Literal["portal", "external"]
    fields: StrictStr


class _Config(_Checked):
    providerId: StrictStr
    kind: Literal["generic", "whitelabel"]
    name: StrictStr
    version: Annotated[StrictStr, Field(min_length=1)]
    login: _Login
    sip: _Sip


class MergedAccount(BaseModel):
    """A complete account as handed out (docs/merge-rules.md, rule 5), in that key order."""

    model_config = ConfigDict(extra="ignore")

    sipusername: Annotated[StrictStr, Field(min_length=1)]
    sippassword: StrictStr
    authusername: StrictStr
    displayname: StrictStr
    domain: Annotated[StrictStr, Field(min_length=1)]
    port: Port
    proxy: StrictStr | None
    transport: Transport
    srtp: Flag
    messaging: Flag
    video: Flag
    callrecording: Flag
    subdomain: StrictStr | None
    voicemailNumber: StrictStr | None
    registrationExpires: StrictInt
    # Optional: accounts kept by an older version, or sent by an older server, lack them.
    stunServer: StrictStr | None = None
    turnServer: StrictStr | None = None
    turnUsername: StrictStr | None = None
    turnPassword: StrictStr | None = None
    ice: StrictBool = False
    keepAliveSeconds: StrictInt = DEFAULT_KEEPALIVE_SECONDS
    srtpMode: SrtpMode = DEFAULT_SRTP_MODE
    audioCodecs: list[StrictStr] = []
    videoCodecs: list[StrictStr] = []
    dtmfMode: DtmfMode = DEFAULT_DTMF_MODE
    realm: StrictStr | None = None


class _Provision(_Checked):
    update: StrictBool
    errmsg: StrictStr
    configVersion: StrictStr
    sipaccounts: list[MergedAccount]
    xmppaccounts: list[dict[str, Any]] = []


class _Redeem(_Provision):
    providerId: StrictStr
    config: _Config


@dataclass(frozen=True)
class ProvisionAnswer:
    """POST provision (and the shared part of POST tokens/redeem)."""

    update: bool
    errmsg: str
    config_version: str
    sipaccounts: list[dict[str, Any]]
    xmppaccounts: list[dict[str, Any]]


@dataclass(frozen=True)
class RedeemAnswer(ProvisionAnswer):
    provider_id: str = ""
    config: dict[str, Any] | None = None


@dataclass(frozen=True)
class ConfigAnswer:
    """GET config: `config` is None when the server answered 304 Not Modified."""

    config: dict[str, Any] | None
    etag: str | None


def check_config(data: Any) -> dict[str, Any]:
    """The config object if it has every field the phone relies on, else PhoneApiError."""
    _validated(_Config, data, "configuration")
    return data


def check_account(data: Any) -> dict[str, Any]:
    return _validated(MergedAccount, data, "account").model_dump(exclude_unset=True)


def _validated(model: type[BaseModel], data: Any, what: str) -> Any:
    if not isinstance(data, dict):
        raise PhoneApiError(200, "bad_response", f"The server's {what} is not a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        reasons = "; ".join(describe_validation_error(error)[:3])
        raise PhoneApiError(200, "bad_response", f"The server's {what} is not valid: {reasons}.") from None


def _provision_fields(answer: _Provision) -> dict[str, Any]:
    return {
        "update": answer.update,
        "errmsg": answer.errmsg,
        "config_version": answer.configVersion,
        "sipaccounts": [account.model_dump(exclude_unset=True) for account in answer.sipaccounts],
        "xmppaccounts": answer.xmppaccounts,
    }


# --- the client ----------------------------------------------------------------------------


def check_server_url(url: str) -> str:
    """The base URL without a trailing slash; ValueError unless it is http(s)://host[...]."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the server URL '{url}' must start with http:// or https:// and name a host")
    if parts.query or parts.fragment:
        raise ValueError(f"the server URL '{url}' must not hold a query or fragment")
    return url.strip().rstrip("/")


class PhoneApi:
    """One SessionCloud server, as seen by one phone installation."""

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx2.BaseTransport | None = None,
        timeout: float = TIMEOUT_SECONDS,
    ):
        self.base_url = check_server_url(base_url)
        self._http = httpx2.Client(
            base_url=self.base_url + "/api/v1",
            timeout=httpx2.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS)),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            transport=transport,
        )
        self._timeout = timeout

    def __enter__(self) -> PhoneApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def get_config(self, provider_id: str, etag: str | None = None) -> ConfigAnswer:
        headers = {"If-None-Match": etag} if etag else {}
        path = f"/providers/{quote(provider_id, safe='')}/config"
        status, body, response_etag = self._send("GET", path, headers=headers)
        if status == 304:
            if not etag:
                raise PhoneApiError(
                    304,
                    "bad_response",
                    "The server answered 304 Not Modified to a request that was not conditional.",
                )
            return ConfigAnswer(None, response_etag or etag)
        config = check_config(body)
        # The ETag is the quoted version (docs/phone-api.md); derive it if a proxy dropped it.
        return ConfigAnswer(config, response_etag or f'"{config["version"]}"')

    def provision(
        self,
        username: str,
        password: str,
        device_id: str,
        *,
        provider_id: str | None = None,
        reprovision: bool = False,
    ) -> ProvisionAnswer:
        payload: dict[str, Any] = {
            "username": username,
            "password": password,
            "deviceId": device_id,
            "reprovision": reprovision,
            "app": APP_INFO,
        }
        if provider_id is not None:
            payload["providerId"] = provider_id
        _, body, _ = self._send("POST", "/provision", payload=payload)
        answer = _validated(_Provision, body, "provisioning answer")
        return ProvisionAnswer(**_provision_fields(answer))

    def redeem(self, token: str, device_id: str) -> RedeemAnswer:
        payload = {"token": token, "deviceId": device_id, "app": APP_INFO}
        _, body, _ = self._send("POST", "/tokens/redeem", payload=payload)
        answer = _validated(_Redeem, body, "setup answer")
        return RedeemAnswer(**_provision_fields(answer), provider_id=answer.providerId, config=body["config"])

    def _send(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        payload: dict[str, Any] | None = None,
    ) -> tuple[int, Any, str | None]:
        """Status, decoded JSON body (None for 304) and ETag; errors become exceptions."""
        with self._request(method, path, headers, payload) as (response, raw):
            status, etag = response.status_code, response.headers.get("ETag")
        if status == 304:
            return status, None, etag
        body = _decode_json(raw, status)
        if status >= 400:
            raise _api_error(status, body)
        if status != 200:
            raise PhoneApiError(
                status, f"http_{status}", f"The server answered HTTP {status} where 200 was expected."
            )
        return status, body, etag

    @contextmanager
    def _request(
        self, method: str, path: str, headers: dict[str, str] | None, payload: dict[str, Any] | None
    ) -> Iterator[tuple[httpx2.Response, bytes]]:
        try:
            with self._http.stream(method, path, headers=headers, json=payload) as response:
                yield response, _read_capped(response)
        except httpx2.TimeoutException:
            raise ServerUnreachable(
                f"the server at {self.base_url} did not answer within {self._timeout:g} seconds"
            ) from None
        except httpx2.RequestError as error:
            raise ServerUnreachable(f"cannot reach the server at {self.base_url}: {_reason(error)}") from None


def _read_capped(response: httpx2.Response) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise PhoneApiError(
                response.status_code,
                "bad_response",
                f"The server's answer is larger than {MAX_ANSWER_BYTES} bytes.",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _decode_json(raw: bytes, status: int) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        if status >= 400:
            # A proxy or load balancer in front of SessionCloud answers with HTML.
            raise PhoneApiError(
                status, f"http_{status}", f"The server answered HTTP {status} without an API error."
            ) from None
        raise PhoneApiError(status, "bad_response", "The server's answer is not JSON.") from None


def _api_error(status: int, body: Any) -> PhoneApiError:
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if isinstance(code, str) and isinstance(message, str):
        return PhoneApiError(status, code, message)
    return PhoneApiError(status, f"http_{status}", f"The server answered HTTP {status} without an API error.")


def _reason(error: httpx2.RequestError) -> str:
    # "[Errno 111] Connection refused" reads better as "connection refused".
    text = str(error).strip() or type(error).__name__
    if text.startswith("[Errno") and "] " in text:
        text = text.split("] ", 1)[1]
    return text[:1].lower() + text[1:]
