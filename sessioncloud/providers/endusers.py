"""End users: their JSON shape, their credentials as accounts, and the codes that carry them."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from pydantic import ValidationError as PydanticValidationError

from sessioncloud.codes.formats import CodeError, encode_external, encode_local
from sessioncloud.lib.sipaccount import AccountError, SipAccount, describe_validation_error
from sessioncloud.providers.models import EndUser, Kind

EXTERNAL_ID_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}\Z")
SIP_FIELDS = {  # JSON key -> model field
    "sipusername": "sip_username", "subdomain": "subdomain", "authusername": "auth_username",
    "transport": "transport", "srtp": "srtp", "messaging": "messaging", "video": "video",
    "callrecording": "callrecording",
}
SECRET_FIELDS = ("sip_password", "provisioning_password")


def valid_external_id(value: str) -> bool:
    return EXTERNAL_ID_RE.match(value) is not None


def enduser_json(user: EndUser) -> dict[str, Any]:
    sip = None
    if user.has_sip:
        sip = {key: getattr(user, field) or None for key, field in SIP_FIELDS.items()}
        sip["sippasswordSet"] = bool(user.sip_password)
    provisioning = None
    if user.has_provisioning:
        provisioning = {"username": user.provisioning_username, "passwordSet": bool(user.provisioning_password)}
    return {
        "externalId": user.external_id,
        "displayName": user.display_name or None,
        "email": user.email or None,
        "sip": sip,
        "provisioning": provisioning,
        "created": user.created.isoformat(),
        "updated": user.updated.isoformat(),
    }


def replace_from_body(user: EndUser, body: dict[str, Any]) -> dict[str, str]:
    """Set every field from a PUT body (replace semantics); returns missing-password errors.

    Passwords are write-only: a body that leaves one out keeps the stored one, so a GET can be
    sent back as a PUT.
    """
    errors: dict[str, str] = {}
    user.display_name = body.get("displayName") or ""
    user.email = body.get("email") or ""
    sip = body.get("sip")
    for key, field in SIP_FIELDS.items():
        setattr(user, field, (sip or {}).get(key) or "")
    if sip is None:
        user.sip_password = ""
    elif sip.get("sippassword") is not None:
        user.sip_password = sip["sippassword"]
    elif not user.sip_password:
        errors["sip.sippassword"] = "This field is required."
    provisioning = body.get("provisioning")
    user.provisioning_username = (provisioning or {}).get("username") or ""
    if provisioning is None:
        user.provisioning_password = ""
    elif provisioning.get("password") is not None:
        user.provisioning_password = provisioning["password"]
    elif not user.provisioning_password:
        errors["provisioning.password"] = "This field is required."
    if sip is None and provisioning is None:
        errors["sip"] = "Give SIP credentials, provisioning credentials, or both."
    return errors


def model_field_errors(error: ValidationError) -> dict[str, str]:
    paths = {"display_name": "displayName", "email": "email", "external_id": "externalId",
             **{field: f"sip.{key}" for key, field in SIP_FIELDS.items()},
             "sip_password": "sip.sippassword", "provisioning_username": "provisioning.username",
             "provisioning_password": "provisioning.password"}
    return {paths.get(field, field): messages[0] for field, messages in error.message_dict.items()}


def sip_account(user: EndUser) -> SipAccount:
    """The end user's SIP credentials and display name as the account a code or token carries.

    AccountError names a credential no account can carry (stored before values were checked).
    """
    data = {"sipusername": user.sip_username, "sippassword": user.sip_password}
    for key, field in SIP_FIELDS.items():
        if key != "sipusername" and getattr(user, field):
            data[key] = getattr(user, field)
    try:
        account = SipAccount.model_validate(data)
    except PydanticValidationError as error:
        raise AccountError(describe_validation_error(error)) from None
    return _with_display_name(account, user.display_name)


def _with_display_name(account: SipAccount, name: str) -> SipAccount:
    # Without a name phones show the SIP username. Names are checked when saved; one stored
    # before that with a control character is left out, so the user's codes and tokens keep
    # working as they did.
    try:
        return SipAccount.model_validate({**account.as_dict(), "displayname": name}) if name else account
    except PydanticValidationError:
        return account


def code_provider_id(user: EndUser) -> str | None:
    # Whitelabel apps have the ProviderId built in: their codes leave it out.
    return None if user.app.kind == Kind.WHITELABEL else user.app.provider_id


def local_code(user: EndUser) -> str:
    if not user.has_sip:
        raise CodeError("this end user has no SIP credentials for a local code")
    try:
        return encode_local([sip_account(user)], provider_id=code_provider_id(user))
    except AccountError as error:
        raise CodeError("the SIP credentials cannot be put in a code: " + "; ".join(error.reasons)) from None


def external_code(user: EndUser) -> str:
    if not user.has_provisioning:
        raise CodeError("this end user has no provisioning credentials for an external code")
    return encode_external(user.provisioning_username, user.provisioning_password, code_provider_id(user))


def fitting_formats(user: EndUser) -> list[str]:
    formats = []
    if user.has_sip:
        formats.append("local")
    if user.has_provisioning and user.app.is_external:
        formats.append("external")
    return formats


def enduser_audit_view(user: EndUser) -> dict[str, Any]:
    """What the audit log keeps of an end user, whichever surface changed it: the API's view
    (passwords only as set) without its times. The entry has its own time, and an `updated`
    stamp would show as a change in every entry, hiding the fields that did change."""
    view = enduser_json(user)
    del view["created"], view["updated"]
    return view
