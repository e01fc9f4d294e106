"""The account objects softphones speak: one schema for QR codes and provider answers alike.

Keys and rules follow the compatible web-service format: unknown keys are ignored, transport and
feature flags accept any case (flags also accept booleans), everything else must have the right
type. Validation failures carry one readable reason per offending field.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)

MAX_ACCOUNTS = 20
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")

Transport = Literal["UDP", "TCP", "TLS"]
Flag = Literal["Enabled", "Disabled"]


class AccountError(ValueError):
    """Raised when account data is malformed; `reasons` names every offending field."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("; ".join(reasons))


def _normalise_transport(value: Any) -> Any:
    if isinstance(value, str) and value.upper() in ("UDP", "TCP", "TLS"):
        return value.upper()
    return value


def _normalise_flag(value: Any) -> Any:
    if isinstance(value, bool):
        return "Enabled" if value else "Disabled"
    if isinstance(value, str) and value.lower() in ("enabled", "disabled"):
        return value.capitalize()
    return value


def _no_control_chars(value: Any) -> Any:
    # Account fields end up in SIP headers and client config files: a newline is never valid.
    if isinstance(value, str) and _CONTROL_CHARS.search(value):
        raise ValueError("must not contain control characters")
    return value


Text = Annotated[StrictStr, BeforeValidator(_no_control_chars), Field(max_length=256)]
RequiredText = Annotated[StrictStr, BeforeValidator(_no_control_chars), Field(min_length=1, max_length=256)]
TransportField = Annotated[Transport, BeforeValidator(_normalise_transport)]
FlagField = Annotated[Flag, BeforeValidator(_normalise_flag)]


class SipAccount(BaseModel):
    """One SIP account as a QR code or a provider's answer carries it (not merged)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    sipusername: RequiredText
    sippassword: Text
    transport: TransportField | None = None
    subdomain: Text | None = None
    authusername: Text | None = None
    displayname: Text | None = None
    srtp: FlagField | None = None
    messaging: FlagField | None = None
    video: FlagField | None = None
    callrecording: FlagField | None = None

    def as_dict(self) -> dict[str, str]:
        """The keys the account actually carries, as the compatible formats spell them."""
        return self.model_dump(exclude_none=True, exclude_unset=True)


class XmppAccount(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    jid: RequiredText
    password: Text
    domain: RequiredText
    server: Text | None = None
    port: Annotated[StrictInt, Field(ge=1, le=65535)] = 5222
    resource: Text | None = None
    usetls: StrictBool | None = None
    verifycert: StrictBool | None = None
    priority: Annotated[StrictInt, Field(ge=-128, le=127)] | None = None
    displayname: Text | None = None
    accountname: Text | None = None

    def as_dict(self) -> dict[str, Any]:
        """The keys the account actually carries (defaults left out)."""
        return self.model_dump(exclude_none=True, exclude_unset=True)

    def for_phone(self) -> dict[str, Any]:
        """What a phone receives: carried keys plus defaults (the port)."""
        return self.model_dump(exclude_none=True)


class _AccountLists(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sipaccounts: Annotated[list[SipAccount], Field(max_length=MAX_ACCOUNTS)] = []
    xmppaccounts: Annotated[list[XmppAccount], Field(max_length=MAX_ACCOUNTS)] = []


def describe_validation_error(error: ValidationError, prefix: str = "") -> list[str]:
    """Turn pydantic's errors into short reasons such as `sipaccounts[0].sippassword: missing`."""
    reasons = []
    for item in error.errors(include_url=False):
        path = prefix
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = "missing" if item["type"] == "missing" else item["msg"]
        reasons.append(f"{path or 'value'}: {message}")
    return reasons


def parse_account_lists(data: Any) -> tuple[list[SipAccount], list[XmppAccount]]:
    """Validate an object holding `sipaccounts` and optional `xmppaccounts` arrays."""
    if not isinstance(data, dict):
        raise AccountError([f"value: expected a JSON object, got {json_type_name(data)}"])
    try:
        lists = _AccountLists.model_validate(data)
    except ValidationError as error:
        raise AccountError(describe_validation_error(error)) from None
    return list(lists.sipaccounts), list(lists.xmppaccounts)


def parse_sip_accounts(data: Any, prefix: str = "sipaccounts") -> list[SipAccount]:
    """Validate a bare JSON array of SIP accounts (as the desktop link carries it)."""
    if not isinstance(data, list):
        raise AccountError([f"{prefix}: expected a JSON array, got {json_type_name(data)}"])
    try:
        sip, _ = parse_account_lists({"sipaccounts": data})
    except AccountError as error:
        raise AccountError(
            [prefix + reason.removeprefix("sipaccounts") for reason in error.reasons]
        ) from None
    return sip


def json_type_name(value: Any) -> str:
    names = {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)
