"""Strict validation of a provider's answer (docs/provider-service.md).

The body is untrusted input from another organisation's server: it is decoded and parsed with
explicit limits (size, nesting, number length, duplicate keys) before pydantic checks its shape,
and every problem becomes one readable reason for the provisioning log and the test bench.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, ValidationError
from pydantic_core import PydanticCustomError

from sessioncloud.lib.sipaccount import (
    MAX_ACCOUNTS,
    AccountError,
    SipAccount,
    XmppAccount,
    describe_validation_error,
    json_type_name,
    parse_account_lists,
)
from sessioncloud.lib.strictjson import StrictJsonError, loads_strict

MAX_BODY_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_NUMBER_LENGTH = 32
MAX_ERRMSG_LENGTH = 1024


class BadAnswer(ValueError):
    """The provider's answer is unusable; `reasons` says exactly why, one entry per problem."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("; ".join(reasons))


@dataclass(frozen=True)
class ProviderAnswer:
    update: bool
    errmsg: str
    sipaccounts: list[SipAccount]
    xmppaccounts: list[XmppAccount]


def parse_provider_answer(body: bytes) -> ProviderAnswer:
    """Decode, parse and validate a provider's answer body, or raise BadAnswer."""
    data = _load_json(body)
    if not isinstance(data, dict):
        raise BadAnswer([f"answer: expected a JSON object, got {json_type_name(data)}"])
    reasons = _check_account_counts(data)
    if reasons:
        raise BadAnswer(reasons)
    envelope, reasons = _validate_envelope(data)
    sip, xmpp, account_reasons = _validate_accounts(data)
    reasons += account_reasons
    if reasons or envelope is None:
        raise BadAnswer(reasons)
    return ProviderAnswer(update=envelope.update, errmsg=envelope.errmsg, sipaccounts=sip, xmppaccounts=xmpp)


def _load_json(body: bytes) -> Any:
    if len(body) > MAX_BODY_BYTES:
        raise BadAnswer([f"body: larger than {MAX_BODY_BYTES} bytes"])
    if not body.strip():
        raise BadAnswer(["body: empty, expected a JSON object"])
    text = _decode(body)
    try:
        return loads_strict(text, max_depth=MAX_DEPTH, max_number_length=MAX_NUMBER_LENGTH)
    except StrictJsonError as error:
        where = f" at line {error.lineno} column {error.colno}" if error.pos is not None else ""
        raise BadAnswer([f"body: JSON {error.problem}{where}"]) from None


def _decode(body: bytes) -> str:
    try:
        # Some frameworks prefix a byte order mark; it carries no meaning in UTF-8.
        return body.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as error:
        bad = body[error.start : error.start + 1].hex()
        raise BadAnswer([f"body: not valid UTF-8 (byte 0x{bad} at position {error.start})"]) from None


def _check_account_counts(data: dict[str, Any]) -> list[str]:
    # Checked before validation so a 10,000-entry array costs nothing and reads clearly.
    reasons = []
    for key in ("sipaccounts", "xmppaccounts"):
        value = data.get(key)
        if isinstance(value, list) and len(value) > MAX_ACCOUNTS:
            reasons.append(f"{key}: at most {MAX_ACCOUNTS} accounts are allowed, got {len(value)}")
    return reasons


def _update_flag(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise PydanticCustomError(
        "update_flag",
        'expected true, false, "true" or "false", got {got}',
        {"got": json_type_name(value) if not isinstance(value, str) else json.dumps(value)},
    )


def _errmsg(value: Any) -> Any:
    return "" if value is None else value  # some providers send null for "no message"


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")

    update: Annotated[bool, BeforeValidator(_update_flag)]
    errmsg: Annotated[StrictStr, BeforeValidator(_errmsg), Field(max_length=MAX_ERRMSG_LENGTH)] = ""


def _validate_envelope(data: dict[str, Any]) -> tuple[_Envelope | None, list[str]]:
    # An absent `sipaccounts` means no accounts: PBX apps log a phone out with only
    # `{"update": true, "errmsg": "Invalid Device"}`.
    try:
        return _Envelope.model_validate(data), []
    except ValidationError as error:
        return None, describe_validation_error(error)


def _validate_accounts(data: dict[str, Any]) -> tuple[list[SipAccount], list[XmppAccount], list[str]]:
    try:
        sip, xmpp = parse_account_lists(data)
    except AccountError as error:
        return [], [], error.reasons
    return sip, xmpp, []
