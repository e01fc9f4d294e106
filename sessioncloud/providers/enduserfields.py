"""An end user's fields, declared once.

Each field has one name as the EndUser attribute, the CSV column (docs/csv.md) and the portal
form field, and one path in the management API's JSON ("sip.authusername"). The portal form,
the API's body schema and answers, and the CSV import and export are all derived from this
table, so a field is added or changed here and nowhere else.

Framework-free: the CSV file format (`onboarding/csvfile.py`) reads it without Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property


class FieldKind(StrEnum):
    EXTERNAL_ID = "external_id"  # the key; read-only once the user exists
    TEXT = "text"
    EMAIL = "email"
    USERNAME = "username"  # its group's key: without it the user has no credentials of that kind
    WRITE_ONLY = "write_only"  # a password: stored encrypted, answered only as "set"
    TRANSPORT = "transport"
    FLAG = "flag"


TRANSPORTS = ("UDP", "TCP", "TLS")
FLAG_VALUES = ("Enabled", "Disabled")
CHOICES = {FieldKind.TRANSPORT: TRANSPORTS, FieldKind.FLAG: FLAG_VALUES}
CREDENTIAL_MAX_LENGTH = 256


@dataclass(frozen=True)
class EndUserField:
    name: str  # the EndUser attribute, the CSV column and the portal form field
    path: str  # in the management API's JSON: "key" at the top, or "group.key"
    label: str
    kind: FieldKind = FieldKind.TEXT
    max_length: int = CREDENTIAL_MAX_LENGTH
    help_text: str = ""

    @property
    def group(self) -> str | None:
        return self.path.split(".")[0] if "." in self.path else None

    @property
    def key(self) -> str:
        """The field's name inside its JSON object."""
        return self.path.rsplit(".", 1)[-1]

    @property
    def secret(self) -> bool:
        return self.kind == FieldKind.WRITE_ONLY

    @property
    def choices(self) -> tuple[str, ...]:
        """The values a choice field takes (empty: the App's setting applies)."""
        return CHOICES.get(self.kind, ())


FIELDS = (
    EndUserField(
        "external_id",
        "externalId",
        "External id",
        FieldKind.EXTERNAL_ID,
        100,
        "Your id for this user, for example a customer number: letters, digits and . _ @ + -, "
        "starting with a letter or digit. It cannot be changed later.",
    ),
    EndUserField("display_name", "displayName", "Display name", max_length=200),
    EndUserField("email", "email", "E-mail", FieldKind.EMAIL, 254, "Where setup e-mails go."),
    # SIP credentials (portal mode) ...
    EndUserField("sip_username", "sip.sipusername", "SIP username", FieldKind.USERNAME),
    EndUserField("sip_password", "sip.sippassword", "SIP password", FieldKind.WRITE_ONLY),
    EndUserField(
        "subdomain",
        "sip.subdomain",
        "Subdomain",
        help_text="Optional: a subdomain of the App's domain, or a full domain.",
    ),
    EndUserField(
        "auth_username",
        "sip.authusername",
        "Auth username",
        help_text="Optional; the SIP username when empty.",
    ),
    EndUserField("transport", "sip.transport", "Transport", FieldKind.TRANSPORT),
    EndUserField("srtp", "sip.srtp", "SRTP", FieldKind.FLAG),
    EndUserField("messaging", "sip.messaging", "Messaging", FieldKind.FLAG),
    EndUserField("video", "sip.video", "Video", FieldKind.FLAG),
    EndUserField("callrecording", "sip.callrecording", "Call recording", FieldKind.FLAG),
    # ... or provisioning credentials (external mode)
    EndUserField(
        "provisioning_username", "provisioning.username", "Provisioning username", FieldKind.USERNAME
    ),
    EndUserField(
        "provisioning_password", "provisioning.password", "Provisioning password", FieldKind.WRITE_ONLY
    ),
)
FIELD_NAMED = {field.name: field for field in FIELDS}
# Set from a body's top level; the external id is the key in the request's path, not in the body.
BODY_FIELDS = tuple(field for field in FIELDS if field.group is None and field.kind != FieldKind.EXTERNAL_ID)
SECRET_NAMES = tuple(field.name for field in FIELDS if field.secret)


@dataclass(frozen=True)
class CredentialGroup:
    """The SIP or the provisioning credentials: one JSON object, present when its username is."""

    key: str  # the JSON object's name
    label: str  # as a sentence names it: "a SIP username"

    @cached_property
    def fields(self) -> tuple[EndUserField, ...]:
        return tuple(field for field in FIELDS if field.group == self.key)

    @cached_property
    def username(self) -> EndUserField:
        return next(field for field in self.fields if field.kind == FieldKind.USERNAME)

    @cached_property
    def password(self) -> EndUserField:
        return next(field for field in self.fields if field.secret)

    @property
    def password_set_key(self) -> str:
        """The read-only key that says a password is stored ("sippasswordSet")."""
        return self.password.key + "Set"


SIP = CredentialGroup("sip", "SIP")
PROVISIONING = CredentialGroup("provisioning", "provisioning")
GROUPS = (SIP, PROVISIONING)
