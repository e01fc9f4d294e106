"""End users: their JSON shape, their credentials as accounts, and the codes that carry them."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from pydantic import ValidationError as PydanticValidationError

from sessioncloud.codes.formats import CodeError, encode_external, encode_local
from sessioncloud.lib.sipaccount import AccountError, SipAccount, describe_validation_error
from sessioncloud.providers.enduserfields import BODY_FIELDS, FIELDS, GROUPS, SIP, CredentialGroup
from sessioncloud.providers.models import EndUser, Kind

EXTERNAL_ID_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}\Z")
EXTERNAL_ID_MESSAGE = "Use 1 to 100 letters, digits and . _ @ + - (starting with a letter or digit)."
PATH_OF_FIELD = {field.name: field.path for field in FIELDS}


def valid_external_id(value: str) -> bool:
    return EXTERNAL_ID_RE.match(value) is not None


def enduser_json(user: EndUser) -> dict[str, Any]:
    return {
        "externalId": user.external_id,
        **{field.path: getattr(user, field.name) or None for field in BODY_FIELDS},
        **{group.key: _group_json(user, group) for group in GROUPS},
        "created": user.created.isoformat(),
        "updated": user.updated.isoformat(),
    }


def _group_json(user: EndUser, group: CredentialGroup) -> dict[str, Any] | None:
    if not getattr(user, group.username.name):
        return None
    answer: dict[str, Any] = {
        field.key: getattr(user, field.name) or None for field in group.fields if not field.secret
    }
    answer[group.password_set_key] = bool(getattr(user, group.password.name))
    return answer


def replace_from_body(user: EndUser, body: dict[str, Any]) -> dict[str, str]:
    """Set every field from a PUT body (replace semantics); returns missing-password errors.

    Passwords are write-only: a body that leaves one out keeps the stored one, so a GET can be
    sent back as a PUT.
    """
    errors: dict[str, str] = {}
    for field in BODY_FIELDS:
        setattr(user, field.name, body.get(field.path) or "")
    for group in GROUPS:
        section = body.get(group.key)
        for field in group.fields:
            if not field.secret:
                setattr(user, field.name, (section or {}).get(field.key) or "")
        password = group.password
        if section is None:
            setattr(user, password.name, "")
        elif section.get(password.key) is not None:
            setattr(user, password.name, section[password.key])
        elif not getattr(user, password.name):
            errors[password.path] = "This field is required."
    if all(body.get(group.key) is None for group in GROUPS):
        errors[SIP.key] = "Give SIP credentials, provisioning credentials, or both."
    return errors


def model_field_errors(error: ValidationError) -> dict[str, str]:
    return {PATH_OF_FIELD.get(field, field): messages[0] for field, messages in error.message_dict.items()}


def sip_account(user: EndUser) -> SipAccount:
    """The end user's SIP credentials and display name as the account a code or token carries.

    AccountError names a credential no account can carry (stored before values were checked).
    """
    # The account format names SIP settings as the management API does; unset ones stay out.
    data = {
        field.key: getattr(user, field.name)
        for field in SIP.fields
        if getattr(user, field.name) or field in (SIP.username, SIP.password)
    }
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
