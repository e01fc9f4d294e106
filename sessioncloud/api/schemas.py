"""Request and response shapes of the JSON API (they also make the OpenAPI document)."""

from __future__ import annotations

import copy
import itertools
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    create_model,
    model_validator,
)

from sessioncloud.api.errors import describe_field_error, json_path
from sessioncloud.providers.enduserfields import (
    BODY_FIELDS,
    GROUPS,
    CredentialGroup,
    EndUserField,
    FieldKind,
)

Transport = Literal["UDP", "TCP", "TLS"]
FlagValue = Literal["Enabled", "Disabled"]
SrtpMode = Literal["optional", "mandatory"]
DtmfMode = Literal["rfc2833", "info", "inband"]
CodecName = Annotated[str, Field(max_length=40)]


class Strict(BaseModel):
    # Unknown keys are refused so a typo is a clear 422, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: dict[str, str] | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail


# --- Public configuration (docs/phone-api.md) ----------------------------------------------


class LogoOut(BaseModel):
    url: str
    width: int
    height: int


class HelpLink(Strict):
    title: str = Field(max_length=100)
    url: str = Field(max_length=1000)


class BrandingOut(BaseModel):
    logo: LogoOut | None
    logoDark: LogoOut | None
    themeColor: str
    contactEmail: str | None
    helpMenuTitle: str
    helpLinks: list[HelpLink]
    credentialsSource: Literal["sip", "provisioning"]


class LoginOut(BaseModel):
    mode: Literal["portal", "external"]
    fields: Literal["username_password", "username_password_subdomain"]
    usernamePlaceholder: str | None
    passwordPlaceholder: str | None


class SipOut(BaseModel):
    domain: str
    port: int
    proxy: str | None
    transport: Transport
    useSubdomains: bool
    srtp: FlagValue
    messaging: FlagValue
    video: FlagValue
    callrecording: FlagValue
    voicemailNumber: str | None
    registrationExpires: int
    stunServer: str | None
    turnServer: str | None
    ice: bool
    keepAliveSeconds: int
    srtpMode: SrtpMode
    audioCodecs: list[str]
    videoCodecs: list[str]
    dtmfMode: DtmfMode
    realm: str | None


class PublicConfigOut(BaseModel):
    providerId: str
    kind: Literal["generic", "whitelabel"]
    name: str
    version: str
    branding: BrandingOut
    login: LoginOut
    sip: SipOut


# --- Management API: App body (the phone config's keys where they overlap) -----------------


class BundleIdsIn(Strict):
    ios: str | None = None
    android: str | None = None


class BrandingIn(Strict):
    themeColor: str | None = None
    contactEmail: str | None = None
    helpMenuTitle: str | None = Field(default=None, max_length=50)
    helpLinks: list[HelpLink] | None = Field(default=None, max_length=5)
    credentialsSource: Literal["sip", "provisioning"] | None = None
    # Read-only in this body (logos are uploaded with PUT .../logo); accepted so a GET can be
    # sent back as a PATCH unchanged.
    logo: LogoOut | None = None
    logoDark: LogoOut | None = None


class LoginIn(Strict):
    fields: Literal["username_password", "username_password_subdomain"] | None = None
    usernamePlaceholder: str | None = Field(default=None, max_length=50)
    passwordPlaceholder: str | None = Field(default=None, max_length=50)
    mode: Literal["portal", "external"] | None = None


class SipIn(Strict):
    domain: str | None = Field(default=None, max_length=260)
    proxy: str | None = Field(default=None, max_length=260)
    transport: Transport | None = None
    useSubdomains: bool | None = None
    srtp: FlagValue | None = None
    messaging: FlagValue | None = None
    video: FlagValue | None = None
    callrecording: FlagValue | None = None
    voicemailNumber: str | None = Field(default=None, max_length=32)
    registrationExpires: int | None = None
    stunServer: str | None = Field(default=None, max_length=260)
    turnServer: str | None = Field(default=None, max_length=260)
    turnUsername: str | None = Field(default=None, max_length=256)
    turnPassword: str | None = Field(default=None, max_length=256)  # write-only
    ice: bool | None = None
    keepAliveSeconds: int | None = None
    srtpMode: SrtpMode | None = None
    audioCodecs: list[CodecName] | None = Field(default=None, max_length=20)
    videoCodecs: list[CodecName] | None = Field(default=None, max_length=20)
    dtmfMode: DtmfMode | None = None
    realm: str | None = Field(default=None, max_length=253)
    port: int | None = None  # read-only (part of domain); accepted for GET-then-PATCH
    turnPasswordSet: bool | None = None  # read-only


class StoreLinksIn(Strict):
    ios: str | None = Field(default=None, max_length=1000)
    android: str | None = Field(default=None, max_length=1000)
    desktop: str | None = Field(default=None, max_length=1000)


class SetupPageIn(Strict):
    phoneApp: Literal["linphone", "sessiontalk"] | None = None
    appName: str | None = Field(default=None, max_length=60)
    storeLinks: StoreLinksIn | None = None
    linphoneUrl: str | None = None  # read-only: the App's Linphone address for typed logins


class ProvisioningIn(Strict):
    mode: Literal["portal", "external"] | None = None
    url: str | None = Field(default=None, max_length=1000)
    authHeader: str | None = Field(default=None, max_length=1000)
    timeoutSeconds: int | None = None
    tokenTtlHours: int | None = None
    authHeaderSet: bool | None = None  # read-only
    usernamePlaceholder: str | None = Field(default=None, max_length=50)
    passwordPlaceholder: str | None = Field(default=None, max_length=50)


class Lenient(Strict):
    """A body whose schema problems are collected instead of refused at once.

    The parts that pass the schema are kept; the view checks them against the model and
    answers every problem of both layers in one 422 (SPEC 9: a `fields` object naming every
    offending field), instead of one layer's now and the next layer's after a resend.
    """

    _schema_errors: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _collect_schema_errors(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        try:
            return handler(data)
        except ValidationError as error:
            if not isinstance(data, dict):
                raise
            problems: dict[str, str] = {}
            for problem in error.errors():
                problems.setdefault(json_path(problem["loc"]), describe_field_error(dict(problem)))
            try:
                body = handler(_without(data, [problem["loc"] for problem in error.errors()]))
            except ValidationError:
                raise error from None
            body._schema_errors = problems
            return body

    @property
    def schema_errors(self) -> dict[str, str]:
        """{"json.path": "message"} for every part of the body the schema refused."""
        return dict(self._schema_errors)


def _without(data: dict[str, Any], locations: list[tuple[Any, ...]]) -> dict[str, Any]:
    """A copy of the body without the keys at these locations (a whole list for an item in it)."""
    trimmed = copy.deepcopy(data)
    for location in locations:
        keys = list(itertools.takewhile(lambda part: isinstance(part, str), location))
        parent: Any = trimmed
        for key in keys[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if keys and isinstance(parent, dict):
            parent.pop(keys[-1], None)
    return trimmed


class AppIn(Lenient):
    providerId: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=100)
    kind: Literal["generic", "whitelabel"] | None = None
    enabled: bool | None = None
    bundleIds: BundleIdsIn | None = None
    branding: BrandingIn | None = None
    login: LoginIn | None = None
    sip: SipIn | None = None
    setupPage: SetupPageIn | None = None
    provisioning: ProvisioningIn | None = None
    # Read-only: accepted so a GET can be sent back as a PATCH unchanged.
    configVersion: str | None = None
    created: str | None = None
    updated: str | None = None
    warnings: list[str] | None = None


class AppOut(BaseModel):
    providerId: str
    name: str
    kind: str
    enabled: bool
    bundleIds: dict[str, str | None]
    branding: dict
    login: dict
    sip: dict
    setupPage: dict
    provisioning: dict
    configVersion: str
    created: str
    updated: str
    warnings: list[str] = []


class AppContentsOut(BaseModel):
    endUsers: int
    setupTokens: int
    devices: int
    provisioningLogEntries: int
    jobs: int


class AppDeletedOut(BaseModel):
    providerId: str
    deleted: AppContentsOut
    providerIdReserved: bool


# --- Management API: end users, tokens, devices, log ------------------------------------------


def _body_field(field: EndUserField) -> tuple[Any, Any]:
    """The type and the limits of an end-user field in a request body."""
    if field.kind == FieldKind.USERNAME:  # present whenever its object is
        return str, Field(min_length=1, max_length=field.max_length)
    if field.kind == FieldKind.TRANSPORT:
        return Transport | None, None
    if field.kind == FieldKind.FLAG:
        return FlagValue | None, None
    return str | None, Field(default=None, max_length=field.max_length)


def _credentials_body(group: CredentialGroup) -> type[Strict]:
    fields = {field.key: _body_field(field) for field in group.fields}
    fields[group.password_set_key] = (bool | None, None)  # read-only
    return create_model(f"EndUser{group.key.capitalize()}In", __base__=Strict, **fields)


def _end_user_body() -> type[Strict]:
    return create_model(
        "EndUserIn",
        __base__=Strict,
        **{field.path: _body_field(field) for field in BODY_FIELDS},
        **{group.key: (_credentials_body(group) | None, None) for group in GROUPS},
        externalId=(str | None, None),  # read-only (the path names it)
        created=(str | None, None),
        updated=(str | None, None),
    )


if TYPE_CHECKING:  # built from the field declarations; to a type checker, a body like the others
    EndUserIn = Strict
else:
    EndUserIn = _end_user_body()


class EndUserOut(BaseModel):
    externalId: str
    displayName: str | None
    email: str | None
    sip: dict | None
    provisioning: dict | None
    created: str
    updated: str


class CodeOut(BaseModel):
    format: Literal["local", "external"]
    code: str


class TokenIn(Strict):
    ttlHours: int | None = None
    maxUses: int | None = None


class TokenCreatedOut(BaseModel):
    id: int
    token: str
    code: str
    link: str
    expiresAt: str
    setupPage: str = Field(description="The end user's setup page; opening it uses nothing up")
    linphoneUrl: str = Field(
        description="Linphone's remote provisioning address for this token: show it "
        "as a QR code, never send it as a link in an e-mail"
    )
    linphoneLink: str = Field(description="The same as a linphone-config: link that opens Linphone")


class TokenOut(BaseModel):
    id: int
    externalId: str
    status: Literal["pending", "used", "expired", "revoked"]
    created: str
    expiresAt: str
    maxUses: int
    uses: int
    revokedAt: str | None
    redemptions: list[dict]


class DeviceOut(BaseModel):
    deviceId: str
    username: str | None
    externalId: str | None
    platform: str | None
    appVersion: str | None
    firstSeen: str
    lastSeen: str
    lastResult: str | None
    status: Literal["active", "deactivated"]


class LogEntryOut(BaseModel):
    time: str
    deviceId: str | None
    username: str | None
    flow: str
    outcome: str
    errorCode: str | None
    detail: str | None
    upstreamStatus: int | None
    upstreamLatencyMs: int | None
    accounts: int


class TestBenchIn(Strict):
    username: str = Field(min_length=1, max_length=256)
    password: str = Field(max_length=256)


class TestBenchOut(BaseModel):
    outcome: Literal["ok", "rejected", "failed"]
    request: dict
    status: int | None
    latencyMs: int
    rawAnswer: str
    errorCode: str | None
    detail: str
    validationErrors: list[str]
    answer: dict | None


# --- Phone API: provision, redeem, parse ----------------------------------------------------------


class PhoneAppInfo(BaseModel):
    platform: str | None = Field(default=None, max_length=20)
    version: str | None = Field(default=None, max_length=40)


class ProvisionIn(BaseModel):
    providerId: str | None = Field(default=None, max_length=64)
    username: str = Field(min_length=1, max_length=300)
    password: str = Field(max_length=256)
    deviceId: str = Field(min_length=1, max_length=128)
    reprovision: bool = False
    app: PhoneAppInfo | None = None


class ProvisionOut(BaseModel):
    update: bool
    errmsg: str
    configVersion: str
    sipaccounts: list[dict]
    xmppaccounts: list[dict]


class RedeemIn(BaseModel):
    token: str = Field(min_length=1, max_length=200)
    deviceId: str = Field(min_length=1, max_length=128)
    app: PhoneAppInfo | None = None


class RedeemOut(ProvisionOut):
    providerId: str
    config: PublicConfigOut


class ParseIn(BaseModel):
    code: str = Field(max_length=20000)


class ParsedCodeOut(BaseModel):
    kind: Literal["local", "external", "token"]
    format: Literal["scloc", "scloc-desktop", "scsc", "scsc-desktop", "scloc-token"]
    providerId: str | None
    sipaccounts: list[dict]
    xmppaccounts: list[dict]
    username: str | None
    password: str | None
    token: str | None


# --- Management API: bulk onboarding (imports, exports, QR codes, e-mails, jobs) -------------


class JobIn(Strict):
    kind: Literal["qr_zip", "qr_pdf", "email"]
    format: Literal["token", "local", "external"] = "token"
    externalIds: list[str] | None = Field(default=None, max_length=50_000)
    paper: Literal["A4", "letter"] = "A4"


class JobProgressOut(BaseModel):
    done: int
    total: int


class JobFileOut(BaseModel):
    filename: str
    contentType: str
    size: int
    url: str


class JobOut(BaseModel):
    id: str
    kind: Literal["import", "qr_zip", "qr_pdf", "email"]
    status: Literal["queued", "running", "done", "failed"]
    providerId: str
    params: dict
    progress: JobProgressOut
    report: dict | None
    error: str | None
    result: JobFileOut | None
    createdBy: str
    created: str
    started: str | None
    finished: str | None


class EmailSettingsIn(Strict):
    senderName: str = Field(default="", max_length=100)
    subject: str = Field(max_length=200)
    body: str = Field(max_length=5000)
    placeholders: dict[str, str] | None = None  # read-only


class EmailSettingsOut(BaseModel):
    senderName: str
    subject: str
    body: str
    placeholders: dict[str, str]


class EmailPreviewIn(Strict):
    senderName: str | None = Field(default=None, max_length=100)
    subject: str | None = Field(default=None, max_length=200)
    body: str | None = Field(default=None, max_length=5000)
    externalId: str | None = None


class EmailPreviewOut(BaseModel):
    sender: str
    to: str
    subject: str
    body: str
    attachment: str
