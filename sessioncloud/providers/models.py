"""Softphone Apps (one per ProviderId) and everything a phone is provisioned from."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower

from sessioncloud.accounts.models import Organization
from sessioncloud.lib.sipmedia import (
    AUDIO_CODECS,
    DEFAULT_DTMF_MODE,
    DEFAULT_KEEPALIVE_SECONDS,
    DEFAULT_SRTP_MODE,
    VIDEO_CODECS,
    CodecListError,
    canonical_codecs,
)
from sessioncloud.providers.fields import EncryptedTextField
from sessioncloud.providers.validators import (
    REGISTRATION_EXPIRES_MESSAGE,
    REGISTRATION_EXPIRES_RANGE,
    normalize_color,
    validate_audio_codecs,
    validate_bundle_id,
    validate_color,
    validate_dial_string,
    validate_header_value,
    validate_help_links,
    validate_host_port,
    validate_keepalive,
    validate_no_control_chars,
    validate_provider_id,
    validate_provisioning_username,
    validate_realm,
    validate_store_url,
    validate_video_codecs,
)


class Kind(models.TextChoices):
    GENERIC = "generic", "Generic (the user types the ProviderId)"
    WHITELABEL = "whitelabel", "Whitelabel (the ProviderId is built into a branded app)"


class Transport(models.TextChoices):
    UDP = "UDP"
    TCP = "TCP"
    TLS = "TLS"


class Flag(models.TextChoices):
    ENABLED = "Enabled"
    DISABLED = "Disabled"


class SrtpMode(models.TextChoices):
    OPTIONAL = "optional", "Optional (offered; calls without it still connect)"
    MANDATORY = "mandatory", "Mandatory (calls without SRTP are refused)"


class DtmfMode(models.TextChoices):
    RFC2833 = "rfc2833", "RFC 2833 events (RTP)"
    INFO = "info", "SIP INFO"
    INBAND = "inband", "In-band (audio tones)"


class LoginFields(models.TextChoices):
    USERNAME_PASSWORD = "username_password", "Username and password"
    WITH_SUBDOMAIN = "username_password_subdomain", "Username, password and subdomain"


class CredentialsSource(models.TextChoices):
    SIP = "sip", "The active SIP account"
    PROVISIONING = "provisioning", "The provisioning login"


class ProvisioningMode(models.TextChoices):
    PORTAL = "portal", "Portal (credentials typed by the user or carried by a QR code)"
    EXTERNAL = "external", "External (credentials come from your provisioning web service)"


class PhoneApp(models.TextChoices):
    """The app end users install: named on the setup page, the setup e-mail and printed cards."""

    LINPHONE = "linphone", "Linphone (free, on every platform; provisioned by SessionCloud itself)"
    SESSIONTALK = "sessiontalk", "A Sessiontalk app (Sessiontalk's own or your branded one)"


class Logo(models.Model):
    """A validated, re-encoded PNG, named by the SHA-256 of its bytes (so URLs never change)."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    content = models.BinaryField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.sha256[:12]}… ({self.width}×{self.height})"

    @property
    def filename(self) -> str:
        return f"{self.sha256}.png"


RESERVED_MESSAGE = (
    "This ProviderId is reserved for the brand it names. Choose another one, or ask the "
    "operator of this SessionCloud if the brand is yours."
)


class ReservedProviderId(models.Model):
    """A ProviderId the operator keeps for a well-known brand: no sign-up or new App may take it."""

    provider_id = models.CharField("ProviderId", max_length=32, validators=[validate_provider_id])
    note = models.CharField(max_length=200, blank=True, help_text="Whose it is, for example Vodafone Group.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("provider_id"), name="reserved_provider_id_unique_ignoring_case")
        ]
        ordering = [Lower("provider_id")]
        verbose_name = "reserved ProviderId"

    def __str__(self) -> str:
        return self.provider_id

    @classmethod
    def holds(cls, provider_id: str) -> bool:
        return cls.objects.filter(provider_id__iexact=provider_id).exists()


class App(models.Model):
    organization = models.ForeignKey(Organization, models.CASCADE, related_name="apps")
    provider_id = models.CharField("ProviderId", max_length=32, validators=[validate_provider_id])
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.GENERIC)
    enabled = models.BooleanField(default=True)
    ios_bundle_id = models.CharField(max_length=155, blank=True, validators=[validate_bundle_id])
    android_package = models.CharField(max_length=155, blank=True, validators=[validate_bundle_id])

    # Branding
    logo = models.ForeignKey(Logo, models.PROTECT, null=True, blank=True, related_name="+")
    logo_dark = models.ForeignKey(Logo, models.PROTECT, null=True, blank=True, related_name="+")
    theme_color = models.CharField(max_length=7, default="#0A7CFF", validators=[validate_color])
    contact_email = models.CharField(max_length=254, blank=True, validators=[EmailValidator()])
    help_menu_title = models.CharField(max_length=50, default="Help")
    help_links = models.JSONField(default=list, blank=True, validators=[validate_help_links])
    credentials_source = models.CharField(
        max_length=12, choices=CredentialsSource.choices, default=CredentialsSource.SIP
    )

    # Login form
    login_fields = models.CharField(
        max_length=30, choices=LoginFields.choices, default=LoginFields.USERNAME_PASSWORD
    )
    username_placeholder = models.CharField(max_length=50, blank=True)
    password_placeholder = models.CharField(max_length=50, blank=True)

    # SIP profile: the defaults every account inherits
    sip_domain = models.CharField("domain", max_length=260, validators=[validate_host_port])
    sip_proxy = models.CharField(
        "outbound proxy", max_length=260, blank=True, validators=[validate_host_port]
    )
    sip_transport = models.CharField(
        "transport", max_length=3, choices=Transport.choices, default=Transport.UDP
    )
    use_subdomains = models.BooleanField(default=False)
    srtp = models.CharField(max_length=8, choices=Flag.choices, default=Flag.DISABLED)
    messaging = models.CharField(max_length=8, choices=Flag.choices, default=Flag.ENABLED)
    video = models.CharField(max_length=8, choices=Flag.choices, default=Flag.DISABLED)
    callrecording = models.CharField(max_length=8, choices=Flag.choices, default=Flag.DISABLED)
    voicemail_number = models.CharField(max_length=32, blank=True, validators=[validate_dial_string])
    registration_expires = models.PositiveIntegerField(
        default=600,
        validators=[
            MinValueValidator(REGISTRATION_EXPIRES_RANGE[0], REGISTRATION_EXPIRES_MESSAGE),
            MaxValueValidator(REGISTRATION_EXPIRES_RANGE[1], REGISTRATION_EXPIRES_MESSAGE),
        ],
    )
    # ... and what phones need behind NAT and on a real PBX
    stun_server = models.CharField("STUN server", max_length=260, blank=True, validators=[validate_host_port])
    turn_server = models.CharField("TURN server", max_length=260, blank=True, validators=[validate_host_port])
    turn_username = models.CharField(
        "TURN username", max_length=256, blank=True, validators=[validate_no_control_chars]
    )
    turn_password = EncryptedTextField(
        "TURN password", blank=True, default="", validators=[validate_no_control_chars]
    )
    ice_enabled = models.BooleanField("ICE", default=False)
    keepalive_seconds = models.PositiveIntegerField(
        "keep-alive interval (seconds)", default=DEFAULT_KEEPALIVE_SECONDS, validators=[validate_keepalive]
    )
    srtp_mode = models.CharField(
        "SRTP mode", max_length=9, choices=SrtpMode.choices, default=DEFAULT_SRTP_MODE
    )
    # Ordered, preferred first; empty leaves the order to each phone.
    audio_codecs = models.JSONField(default=list, blank=True, validators=[validate_audio_codecs])
    video_codecs = models.JSONField(default=list, blank=True, validators=[validate_video_codecs])
    dtmf_mode = models.CharField(
        "DTMF mode", max_length=7, choices=DtmfMode.choices, default=DEFAULT_DTMF_MODE
    )
    sip_realm = models.CharField("digest realm", max_length=253, blank=True, validators=[validate_realm])

    # End-user setup page: the app to install and where to get it (blank: Linphone's own stores)
    phone_app = models.CharField(
        "app your users install", max_length=12, choices=PhoneApp.choices, default=PhoneApp.LINPHONE
    )
    phone_app_name = models.CharField("name of that app", max_length=60, blank=True)
    ios_store_url = models.CharField(
        "App Store link", max_length=1000, blank=True, validators=[validate_store_url]
    )
    android_store_url = models.CharField(
        "Google Play link", max_length=1000, blank=True, validators=[validate_store_url]
    )
    desktop_download_url = models.CharField(
        "desktop download link", max_length=1000, blank=True, validators=[validate_store_url]
    )

    # Provisioning
    provisioning_mode = models.CharField(
        max_length=8, choices=ProvisioningMode.choices, default=ProvisioningMode.PORTAL
    )
    provisioning_url = models.URLField(max_length=1000, blank=True)
    provisioning_auth_header = EncryptedTextField(blank=True, default="", validators=[validate_header_value])
    # Newest first; two are valid while a rotation is under way.
    signing_secrets = EncryptedTextField(blank=True, default="")
    provisioning_timeout = models.PositiveSmallIntegerField(
        "timeout (seconds)", default=8, validators=[MinValueValidator(1), MaxValueValidator(15)]
    )
    token_ttl_hours = models.PositiveIntegerField(
        default=72, validators=[MinValueValidator(1), MaxValueValidator(30 * 24)]
    )
    # Set by the operator only (Django admin): how many calls to this App's service each app
    # process lets wait at once; empty means SESSIONCLOUD_PROVIDER_CALLS_PER_APP.
    max_calls_in_flight = models.PositiveIntegerField(
        "provider calls in flight (per app process)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100_000)],
        help_text="Empty: the deployment's default. Past it, phones are told the provider is busy.",
    )

    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("provider_id"), name="provider_id_unique_ignoring_case"),
        ]
        ordering = ["provider_id"]

    # Only an operator (the Django admin) may give a new App a reserved ProviderId.
    may_take_reserved = False
    # The ProviderId stored before this save (providers.signals), so its cached answer goes too.
    _old_provider_id: str | None = None

    def __str__(self) -> str:
        return self.provider_id

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.signing_secrets:
            self.rotate_signing_secret()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "signing_secrets"}
        super().save(*args, **kwargs)

    def clean_fields(self, exclude: Any = None) -> None:
        # Before the validators: a colour typed as #fff is #FFFFFF, in the portal and the API alike.
        self.theme_color = normalize_color(self.theme_color)
        super().clean_fields(exclude)

    def clean(self) -> None:
        errors: dict[str, str] = {}
        taken = App.objects.filter(provider_id__iexact=self.provider_id).exclude(pk=self.pk)
        if self.provider_id and (taken.exists() or RetiredProviderId.reserved_for_others(self)):
            errors["provider_id"] = "This ProviderId is already taken."
        elif self._state.adding and not self.may_take_reserved and ReservedProviderId.holds(self.provider_id):
            errors["provider_id"] = RESERVED_MESSAGE
        if self.provisioning_mode == ProvisioningMode.EXTERNAL and not self.provisioning_url:
            errors["provisioning_url"] = "External provisioning needs the URL of your web service."
        errors.update(self._turn_errors())
        if errors:
            raise ValidationError(errors)
        self.audio_codecs = _in_registered_spelling(self.audio_codecs, AUDIO_CODECS)
        self.video_codecs = _in_registered_spelling(self.video_codecs, VIDEO_CODECS)

    def _turn_errors(self) -> dict[str, str]:
        """A TURN server is only usable with its credentials, and credentials only with a server."""
        errors = {}
        if self.turn_server:
            for field, what in (("turn_username", "username"), ("turn_password", "password")):
                if not getattr(self, field):
                    errors[field] = f"A TURN server needs a {what}."
        elif self.turn_username or self.turn_password:
            errors["turn_server"] = "Enter the TURN server these credentials are for, or remove them."
        return errors

    @property
    def is_external(self) -> bool:
        return self.provisioning_mode == ProvisioningMode.EXTERNAL

    def signing_secret_list(self) -> list[str]:
        return [s for s in self.signing_secrets.split(",") if s]

    def rotate_signing_secret(self) -> str:
        """Start using a new secret; the previous one stays valid until the next rotation."""
        new = "scs_" + secrets.token_urlsafe(32)
        self.signing_secrets = ",".join([new, *self.signing_secret_list()[:1]])
        return new

    def end_rotation(self) -> None:
        self.signing_secrets = ",".join(self.signing_secret_list()[:1])


def served(app: App) -> bool:
    """Whether phones (and the setup page) may see this App: enabled, of a verified organization.

    The one rule in Python; `load_enabled_app` and `lookup.enabled_app_and_device` say the same
    in their queries. Read `app.organization` along with the App (select_related).
    """
    return app.enabled and app.organization.verified


def _in_registered_spelling(names: object, known: tuple[str, ...]) -> object:
    # Runs after the field validators; a list they refused is left for them to report.
    try:
        return canonical_codecs(names, known, "")
    except CodecListError:
        return names


class RetiredProviderId(models.Model):
    """The ProviderId of a deleted App. Phones in the field still hold it (whitelabel apps have it
    built in), so no other organization may take it: it would receive their logins. The
    organization that deleted it may create an App with it again; an operator may release it."""

    provider_id = models.CharField("ProviderId", max_length=32)
    # Null once that organization is gone: then the ProviderId is reserved for no one.
    organization = models.ForeignKey(Organization, models.SET_NULL, null=True, blank=True, related_name="+")
    retired = models.DateTimeField(auto_now=True)
    retired_by = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("provider_id"), name="retired_provider_id_unique_ignoring_case"),
        ]
        ordering = ["provider_id"]
        verbose_name = "retired ProviderId"

    def __str__(self) -> str:
        return self.provider_id

    @classmethod
    def reserved_for_others(cls, app: App) -> bool:
        """Whether the App's ProviderId belonged to a deleted App of another organization."""
        retired = cls.objects.filter(provider_id__iexact=app.provider_id)
        if app.organization_id is not None:
            retired = retired.exclude(organization_id=app.organization_id)
        return retired.exists()


class EndUser(models.Model):
    """A user the provider keeps in the portal to hand out QR codes and setup links."""

    app = models.ForeignKey(App, models.CASCADE, related_name="end_users")
    external_id = models.CharField(max_length=100)
    # The display name and SIP credentials go into every code and account: one line each.
    display_name = models.CharField(max_length=200, blank=True, validators=[validate_no_control_chars])
    email = models.CharField(max_length=254, blank=True, validators=[EmailValidator()])
    # SIP credentials (portal mode) ...
    sip_username = models.CharField(max_length=256, blank=True, validators=[validate_no_control_chars])
    sip_password = EncryptedTextField(blank=True, default="", validators=[validate_no_control_chars])
    subdomain = models.CharField(max_length=256, blank=True, validators=[validate_no_control_chars])
    auth_username = models.CharField(max_length=256, blank=True, validators=[validate_no_control_chars])
    transport = models.CharField(max_length=3, choices=Transport.choices, blank=True)
    srtp = models.CharField(max_length=8, choices=Flag.choices, blank=True)
    messaging = models.CharField(max_length=8, choices=Flag.choices, blank=True)
    video = models.CharField(max_length=8, choices=Flag.choices, blank=True)
    callrecording = models.CharField(max_length=8, choices=Flag.choices, blank=True)
    # ... or provisioning credentials (external mode)
    provisioning_username = models.CharField(
        max_length=256, blank=True, validators=[validate_provisioning_username]
    )
    provisioning_password = EncryptedTextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app", "external_id"], name="end_user_id_unique_per_app")
        ]
        ordering = ["external_id"]

    def __str__(self) -> str:
        return self.display_name or self.external_id

    @property
    def has_sip(self) -> bool:
        return bool(self.sip_username)

    @property
    def has_provisioning(self) -> bool:
        return bool(self.provisioning_username)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SetupToken(models.Model):
    """A one-time secret standing for an end user's credentials; only its hash is kept."""

    app = models.ForeignKey(App, models.CASCADE, related_name="setup_tokens")
    end_user = models.ForeignKey(EndUser, models.CASCADE, related_name="setup_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    max_uses = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    uses = models.PositiveSmallIntegerField(default=0)
    revoked = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"token {self.pk} for {self.end_user}"


class TokenRedemption(models.Model):
    token = models.ForeignKey(SetupToken, models.CASCADE, related_name="redemptions")
    redeemed = models.DateTimeField(auto_now_add=True)
    device_id = models.CharField(max_length=128)
    ip = models.GenericIPAddressField(null=True)
    user_agent = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"{self.token} by {self.device_id}"


class DeviceStatus(models.TextChoices):
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


class Device(models.Model):
    app = models.ForeignKey(App, models.CASCADE, related_name="devices")
    device_id = models.CharField(max_length=128)
    username = models.CharField(max_length=256, blank=True)
    end_user = models.ForeignKey(EndUser, models.SET_NULL, null=True, blank=True, related_name="devices")
    platform = models.CharField(max_length=20, blank=True)
    app_version = models.CharField(max_length=40, blank=True)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True, db_index=True)
    last_result = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=12, choices=DeviceStatus.choices, default=DeviceStatus.ACTIVE)
    # Digest of the accounts last handed out, so re-provisioning can answer "nothing changed".
    accounts_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "device_id"], name="device_unique_per_app")]
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return self.device_id


# What a provisioning log row's outcome can be; the log is filtered by these in the portal and the API.
LOG_OUTCOMES = ("ok", "rejected", "failed", "deactivated", "rate_limited")


class ProvisioningLogEntry(models.Model):
    """One row per phone API call that provisions. Never a password."""

    app = models.ForeignKey(App, models.CASCADE, related_name="provisioning_log")
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    device_id = models.CharField(max_length=128, blank=True)
    username = models.CharField(max_length=256, blank=True)
    flow = models.CharField(max_length=20)
    outcome = models.CharField(max_length=20)
    error_code = models.CharField(max_length=40, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    upstream_status = models.PositiveSmallIntegerField(null=True, blank=True)
    upstream_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    accounts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["app", "-created"], name="provlog_app_created")]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M:%S} {self.flow} {self.outcome}"
