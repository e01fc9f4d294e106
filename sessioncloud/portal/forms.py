"""Portal forms. App settings are ModelForms, so the App model's validators are the rules."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.utils import timezone

from sessioncloud.accounts.models import Role
from sessioncloud.lib.sipmedia import AUDIO_CODECS, VIDEO_CODECS
from sessioncloud.providers.enduserfields import (
    BODY_FIELDS,
    GROUPS,
    PROVISIONING,
    SIP,
    EndUserField,
    FieldKind,
)
from sessioncloud.providers.enduserfields import FIELDS as END_USER_FIELDS
from sessioncloud.providers.endusers import (
    EXTERNAL_ID_MESSAGE,
    model_field_errors,
    replace_from_body,
    valid_external_id,
)
from sessioncloud.providers.logos import LogoError, store_logo
from sessioncloud.providers.models import LOG_OUTCOMES, App, EndUser, Logo, Transport
from sessioncloud.providers.outbound import check_provisioning_url
from sessioncloud.providers.tokens import MAX_USES as MAX_TOKEN_USES
from sessioncloud.providers.validators import (
    MAX_HELP_LINKS,
    REGISTRATION_EXPIRES_RANGE,
    validate_header_value,
    validate_https_url,
    validate_no_control_chars,
)

LOGO_ACCEPT = "image/png,image/jpeg,image/webp"


class AppSettingsForm(forms.ModelForm):
    """One page of App settings, saved with exactly its own fields."""

    extra_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.warnings: list[str] = []

    @property
    def page_fields(self) -> Collection[str]:
        """The model fields of this page: each settings form names them in its Meta."""
        return self._meta.fields or ()

    @property
    def update_fields(self) -> list[str]:
        return [*self.page_fields, *self.extra_fields, "updated"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in self.page_fields:
            widget = self.fields[name].widget if name in self.fields else None
            if (
                widget is not None
                and not isinstance(widget, forms.CheckboxInput)
                and widget.value_omitted_from_data(self.data, self.files, self.add_prefix(name))
            ):
                # Not on the page (e.g. the whitelabel fields of a generic App): keep what is stored.
                data[name] = getattr(self.instance, name)
        return data

    def _update_errors(self, errors: ValidationError) -> None:
        # A field whose own check failed already says why: the model's complaint about the value
        # it then lacks (e.g. "external provisioning needs the URL") would only repeat it.
        if hasattr(errors, "error_dict"):
            remaining = {f: e for f, e in errors.error_dict.items() if f not in self._errors}
            if not remaining:
                return
            errors = ValidationError(remaining)
        super()._update_errors(errors)

    def disable(self) -> None:
        for field in self.fields.values():
            field.disabled = True


class NewAppForm(forms.ModelForm):
    class Meta:
        model = App
        fields = ["provider_id", "name", "kind", "sip_domain"]
        widgets = {"kind": forms.RadioSelect}
        help_texts = {
            "provider_id": "What your users type in the softphone: 3 to 32 letters and digits, "
            "starting with a letter. Only an operator can change it later.",
            "sip_domain": "Your PBX: host or host:port.",
        }
        labels = {"sip_domain": "SIP domain"}


class GeneralForm(AppSettingsForm):
    class Meta:
        model = App
        fields = [
            "name",
            "kind",
            "enabled",
            "ios_bundle_id",
            "android_package",
            "phone_app",
            "phone_app_name",
            "ios_store_url",
            "android_store_url",
            "desktop_download_url",
        ]
        widgets = {"kind": forms.RadioSelect, "phone_app": forms.RadioSelect}
        labels = {"ios_bundle_id": "iOS bundle id", "android_package": "Android package name"}
        help_texts = {
            "enabled": "A disabled App answers phones as if it did not exist.",
            "ios_bundle_id": "Whitelabel only, for example com.acme.phone.",
            "android_package": "Whitelabel only, for example com.acme.phone.",
            "phone_app": "Named on your users' setup page, setup e-mails and printed cards.",
            "phone_app_name": "Leave empty for “Linphone”, or for a Sessiontalk app: “Sessiontalk” "
            "(generic Apps) or this App's name (whitelabel Apps).",
            "ios_store_url": "https:// only. Leave the three links empty to use Linphone's own store pages.",
        }


class _AlwaysSubmitted(forms.HiddenInput):
    """Makes the ModelForm save an emptied list (it skips fields "omitted" from the POST)."""

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return False


class BrandingForm(AppSettingsForm):
    extra_fields = ("logo", "logo_dark")

    logo_file = forms.FileField(
        label="Logo (light background)",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": LOGO_ACCEPT}),
        help_text="PNG, JPEG or WebP, at most 1 MB and 4096×4096 pixels.",
    )
    remove_logo = forms.BooleanField(label="Remove this logo", required=False)
    logo_dark_file = forms.FileField(
        label="Logo for dark backgrounds (optional)",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": LOGO_ACCEPT}),
        help_text="Shown in dark mode; without it phones use the light logo.",
    )
    remove_logo_dark = forms.BooleanField(label="Remove this logo", required=False)
    # Filled from the link rows in clean_help_links(); the model validates the list.
    help_links = forms.Field(required=False, widget=_AlwaysSubmitted)

    class Meta:
        model = App
        fields = ["theme_color", "help_menu_title", "help_links", "credentials_source", "contact_email"]
        labels = {"theme_color": "Theme colour", "credentials_source": "Credentials for %user% and %pwd%"}
        help_texts = {
            "theme_color": "#RRGGBB or #RGB. Colours keypad digits, menu titles and controls.",
            "help_menu_title": "The title of the help menu in the app.",
            "credentials_source": "Which user name and password replace %user% and %pwd% in help links.",
            "contact_email": "Shown to your users in the app.",
        }
        widgets = {
            "theme_color": forms.TextInput(attrs={"pattern": "#([0-9A-Fa-f]{3}){1,2}", "maxlength": 7})
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        links = list(self.instance.help_links or [])
        for index in range(1, MAX_HELP_LINKS + 1):
            link = links[index - 1] if index <= len(links) else {"title": "", "url": ""}
            self.fields[f"link_title_{index}"] = forms.CharField(
                label=f"Title {index}", required=False, max_length=100, initial=link["title"]
            )
            self.fields[f"link_url_{index}"] = forms.CharField(
                label=f"URL {index}",
                required=False,
                max_length=1000,
                initial=link["url"],
                widget=forms.TextInput(attrs={"placeholder": "https://"}),
            )

    @property
    def link_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [(self[f"link_title_{i}"], self[f"link_url_{i}"]) for i in range(1, MAX_HELP_LINKS + 1)]

    def clean_help_links(self) -> list[dict[str, str]]:
        return [{"title": title, "url": url} for _, title, url in self._typed_links()]

    def _typed_links(self) -> list[tuple[int, str, str]]:
        """(row number, title, url) of each row with something typed in it."""
        rows = []
        for index in range(1, MAX_HELP_LINKS + 1):
            title = (self.data.get(f"link_title_{index}") or "").strip()
            url = (self.data.get(f"link_url_{index}") or "").strip()
            if title or url:
                rows.append((index, title, url))
        return rows

    def clean(self) -> dict[str, Any]:
        # Each link's problem is shown once, beside its own row (not again for the whole list).
        data = super().clean()
        for index, title, url in self._typed_links():
            if not title:
                self.add_error(f"link_title_{index}", "Give this link a title.")
            try:
                validate_https_url(url)
            except ValidationError as error:
                self.add_error(f"link_url_{index}", error.messages[0])
        return data

    def _update_errors(self, errors: ValidationError) -> None:
        if any(name.startswith("link_") for name in self._errors) and hasattr(errors, "error_dict"):
            errors = ValidationError({f: e for f, e in errors.error_dict.items() if f != "help_links"})
        super()._update_errors(errors)

    def clean_logo_file(self) -> Logo | None:
        return _stored_logo(self.cleaned_data.get("logo_file"))

    def clean_logo_dark_file(self) -> Logo | None:
        return _stored_logo(self.cleaned_data.get("logo_dark_file"))

    def save(self, commit: bool = True) -> App:
        app = super().save(commit=False)
        for variant in ("logo", "logo_dark"):
            uploaded = self.cleaned_data.get(f"{variant}_file")
            if uploaded is not None:
                setattr(app, variant, uploaded)
            elif self.cleaned_data.get(f"remove_{variant}"):
                setattr(app, variant, None)
        if commit:
            app.save(update_fields=self.update_fields)
        return app


def _stored_logo(upload: UploadedFile | None) -> Logo | None:
    if not upload:
        return None
    # Read one byte past the limit: enough to refuse an oversize file without reading it all.
    data = upload.read(settings.LOGO_MAX_BYTES + 1)
    try:
        return store_logo(data)
    except LogoError as error:
        raise forms.ValidationError(str(error)) from None


class CodecListField(forms.CharField):
    """An ordered codec list typed as names separated by commas; the App model checks the names."""

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value)
        return [name.strip() for name in text.split(",") if name.strip()]

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list) else value


class SipForm(AppSettingsForm):
    extra_fields = ("turn_password",)

    turn_password = forms.CharField(
        label="TURN password",
        required=False,
        max_length=256,
        validators=[validate_no_control_chars],
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted and never shown again. Leave blank to keep the current one.",
    )
    clear_turn_password = forms.BooleanField(label="Remove the current TURN password", required=False)
    audio_codecs = CodecListField(
        label="Audio codecs",
        required=False,
        help_text=f"Preferred first, separated by commas, from {', '.join(AUDIO_CODECS)}. "
        "Empty: each phone keeps its own order.",
    )
    video_codecs = CodecListField(
        label="Video codecs",
        required=False,
        help_text=f"Preferred first, separated by commas, from {', '.join(VIDEO_CODECS)}. "
        "Empty: each phone keeps its own order.",
    )

    class Meta:
        model = App
        fields = [
            "sip_domain",
            "sip_proxy",
            "sip_transport",
            "use_subdomains",
            "login_fields",
            "srtp",
            "messaging",
            "video",
            "callrecording",
            "voicemail_number",
            "registration_expires",
            "stun_server",
            "turn_server",
            "turn_username",
            "ice_enabled",
            "keepalive_seconds",
            "srtp_mode",
            "audio_codecs",
            "video_codecs",
            "dtmf_mode",
            "sip_realm",
        ]
        labels = {
            "sip_domain": "Domain",
            "sip_proxy": "Outbound proxy",
            "srtp": "SRTP",
            "callrecording": "Call recording",
            "registration_expires": "Registration expiry (seconds)",
            "ice_enabled": "Use ICE",
            "keepalive_seconds": "Keep-alive interval (seconds)",
            "sip_realm": "Digest realm",
        }
        help_texts = {
            "sip_domain": "host or host:port. Without a port phones use 5060 (5061 with TLS).",
            "sip_proxy": "Optional, host or host:port.",
            "use_subdomains": "An account's subdomain goes in front of the domain "
            "(pbx1 becomes pbx1.sip.example.com).",
            "login_fields": "What the app asks for when users type their SIP credentials.",
            "registration_expires": "From 30 to 86400.",
            "voicemail_number": "Optional: digits, *, # and +, for example *97.",
            "stun_server": "Optional, host or host:port, for example stun.example.com:3478. "
            "Phones learn their public address from it.",
            "turn_server": "Optional, host or host:port. Relays the audio when no direct path works; "
            "needs a username and a password.",
            "ice_enabled": "Phones try every path (local, STUN, TURN) and keep the one that works.",
            "keepalive_seconds": "How often phones keep their NAT mapping open: 0 (off) or 5 to 3600.",
            "srtp_mode": "Used when SRTP is Enabled.",
            "dtmf_mode": "How phones send the digits pressed during a call.",
            "sip_realm": "Optional: the realm your PBX names when it asks for the password, "
            "if it is not the domain.",
        }

    # Without the form's own "at least 0": the model's one range message covers every bad number.
    registration_expires = forms.IntegerField(
        label="Registration expiry (seconds)",
        help_text="From 30 to 86400.",
        widget=forms.NumberInput(
            attrs={"min": REGISTRATION_EXPIRES_RANGE[0], "max": REGISTRATION_EXPIRES_RANGE[1]}
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sip_transport"].choices = [(value, value) for value in Transport.values]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # Set before the App model checks the TURN settings as a whole (a server needs a password).
        if cleaned.get("turn_password"):
            self.instance.turn_password = cleaned["turn_password"]
        elif cleaned.get("clear_turn_password"):
            self.instance.turn_password = ""
        return cleaned


class ProvisioningForm(AppSettingsForm):
    extra_fields = ("provisioning_auth_header",)

    auth_header = forms.CharField(
        label="New value",
        required=False,
        max_length=1000,
        validators=[validate_header_value],
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="Sent as the Authorization header to your service, for example Bearer and a token. "
        "Stored encrypted and never shown again. Leave blank to keep the current value.",
    )
    clear_auth_header = forms.BooleanField(label="Remove the current header", required=False)
    provisioning_url = forms.URLField(
        label="URL of your provisioning web service",
        required=False,
        max_length=1000,
        assume_scheme="https",
        help_text="https:// only. SessionCloud appends username, password, reprovision and deviceId.",
    )

    class Meta:
        model = App
        fields = [
            "provisioning_mode",
            "provisioning_url",
            "provisioning_timeout",
            "username_placeholder",
            "password_placeholder",
            "token_ttl_hours",
        ]
        labels = {
            "provisioning_mode": "Mode",
            "provisioning_timeout": "Timeout (seconds)",
            "username_placeholder": "Username placeholder",
            "password_placeholder": "Password placeholder",
            "token_ttl_hours": "Setup links expire after (hours)",
        }
        help_texts = {
            "provisioning_timeout": "From 1 to 15 seconds.",
            "username_placeholder": "Whitelabel login form, for example Account No.",
            "password_placeholder": "Whitelabel login form, for example PIN.",
            "token_ttl_hours": "From 1 hour to 30 days (720 hours).",
        }
        widgets = {"provisioning_mode": forms.RadioSelect}

    def clean_provisioning_url(self) -> str:
        url = self.cleaned_data.get("provisioning_url", "")
        if url:
            self.warnings = check_provisioning_url(url)
        return url

    def save(self, commit: bool = True) -> App:
        app = super().save(commit=False)
        if self.cleaned_data.get("auth_header"):
            app.provisioning_auth_header = self.cleaned_data["auth_header"]
        elif self.cleaned_data.get("clear_auth_header"):
            app.provisioning_auth_header = ""
        if commit:
            app.save(update_fields=self.update_fields)
        return app


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where the key is used, for example Billing system.")


class InvitationForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ADMIN)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class OrganizationForm(forms.Form):
    name = forms.CharField(label="Organization name", max_length=200)


# --- End users, setup links, the provisioning log and the test bench ---------------------------

APP_DEFAULT = ("", "As the App's SIP profile")
# What the form says when a group's settings are given without its username.
USERNAME_MISSING = {
    SIP.key: "Give the SIP username, or leave every SIP field empty.",
    PROVISIONING.key: "Give the provisioning username too.",
}


def _password_input() -> forms.PasswordInput:
    # render_value=False: a stored or typed password never travels back to the browser.
    return forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})


def _form_field(field: EndUserField) -> forms.Field:
    """The portal's input for an end-user field (the model's validators check the value on saving)."""
    if field.choices:
        return forms.ChoiceField(
            label=field.label, choices=[APP_DEFAULT, *((v, v) for v in field.choices)], required=False
        )
    form_field = forms.EmailField if field.kind == FieldKind.EMAIL else forms.CharField
    return form_field(
        label=field.label,
        max_length=field.max_length,
        help_text=field.help_text,
        required=field.kind == FieldKind.EXTERNAL_ID,
        widget=_password_input() if field.secret else None,
    )


class EndUserForm(forms.Form):
    """An end user's fields; saving goes through the same rules as the management API's PUT."""

    # The management API's JSON paths (which the shared rules report errors under) -> fields.
    FIELD_OF_PATH: ClassVar[dict[str, str]] = {field.path: field.name for field in END_USER_FIELDS}

    def __init__(self, *args: Any, app: App, end_user: EndUser | None = None, **kwargs: Any) -> None:
        if end_user is not None:
            kwargs.setdefault(
                "initial",
                {
                    field.name: getattr(end_user, field.name)
                    for field in END_USER_FIELDS
                    if field.kind != FieldKind.EXTERNAL_ID and not field.secret
                },
            )
        super().__init__(*args, **kwargs)
        self.app, self.end_user = app, end_user
        if end_user is not None:
            del self.fields["external_id"]  # the key of the API and of every link to this user
            for group in GROUPS:
                if getattr(end_user, group.password.name):
                    self.fields[
                        group.password.name
                    ].help_text = "A password is set. Leave blank to keep it; it is never shown."

    @property
    def sip_credential_fields(self) -> list[forms.BoundField]:
        return [self[field.name] for field in SIP.fields if not field.choices]

    @property
    def sip_option_fields(self) -> list[forms.BoundField]:
        """Transport and features: the App's settings apply unless one is chosen here."""
        return [self[field.name] for field in SIP.fields if field.choices]

    @property
    def sip_options_chosen(self) -> bool:
        return any(bound.value() for bound in self.sip_option_fields)

    @property
    def provisioning_fields(self) -> list[forms.BoundField]:
        return [self[field.name] for field in PROVISIONING.fields]

    def clean_external_id(self) -> str:
        external_id = self.cleaned_data["external_id"].strip()
        if not valid_external_id(external_id):
            raise ValidationError(EXTERNAL_ID_MESSAGE)
        if EndUser.objects.filter(app=self.app, external_id=external_id).exists():
            raise ValidationError("This App already has an end user with this id.")
        return external_id

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for group in GROUPS:
            username = group.username.name
            if any(data.get(field.name) for field in group.fields) and not data.get(username):
                self.add_error(username, USERNAME_MISSING[group.key])
        return data

    def body(self) -> dict[str, Any]:
        """The cleaned form as a management API body (blank passwords keep the stored ones)."""
        data = self.cleaned_data
        body: dict[str, Any] = {field.path: data.get(field.name) or None for field in BODY_FIELDS}
        for group in GROUPS:
            section = {field.key: data.get(field.name) or None for field in group.fields}
            body[group.key] = section if data.get(group.username.name) else None
        return body

    def disable(self) -> None:
        for field in self.fields.values():
            field.disabled = True

    def apply_to(self, end_user: EndUser) -> bool:
        """Set the end user's fields by the management API's rules; False (with errors) if invalid."""
        errors = replace_from_body(end_user, self.body())
        try:
            end_user.full_clean(validate_constraints=False)
        except ValidationError as error:
            errors = {**model_field_errors(error), **errors}
        for path, message in errors.items():
            field = self.FIELD_OF_PATH.get(path)
            self.add_error(field if field in self.fields else None, message)
        return not errors


# The fields, in the declaration's order, as if written out in the class body (Django copies
# base_fields into each form it makes).
EndUserForm.base_fields.update({field.name: _form_field(field) for field in END_USER_FIELDS})


class EndUserSearchForm(forms.Form):
    q = forms.CharField(
        label="Search",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name, id, e-mail or username"}),
    )


class SetupLinkForm(forms.Form):
    max_uses = forms.TypedChoiceField(
        label="Phones that may use it",
        coerce=int,
        initial=1,
        choices=[(n, "1 phone" if n == 1 else f"{n} phones") for n in range(1, MAX_TOKEN_USES + 1)],
        help_text="A setup link works this many times, then it is dead.",
    )


class DateRangeForm(forms.Form):
    """A filter form's From and To days (in the viewer's time zone, both included)."""

    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(
        label="To",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Both days included.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "The last day comes before the first.")
            del data["since"]  # a range that cannot be meant filters by neither end
        return data

    def in_range(self, rows: QuerySet[Any], field: str = "created") -> QuerySet[Any]:
        """The rows whose `field` falls on the chosen days (call after is_valid())."""
        chosen = self.cleaned_data
        if chosen.get("since"):
            rows = rows.filter(**{f"{field}__gte": _start_of(chosen["since"])})
        if chosen.get("until"):
            rows = rows.filter(**{f"{field}__lt": _start_of(chosen["until"]) + timedelta(days=1)})
        return rows


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


class LogFilterForm(DateRangeForm):
    outcome = forms.ChoiceField(
        choices=[("", "Any outcome"), *((o, o) for o in LOG_OUTCOMES)], required=False
    )
    username = forms.CharField(max_length=256, required=False)
    device = forms.CharField(label="Device id", max_length=128, required=False)
    field_order = ["outcome", "username", "device", "since", "until"]


class TestBenchForm(forms.Form):
    username = forms.CharField(
        label="Test username",
        max_length=256,
        help_text="Provisioning credentials your service accepts, as a user would type them.",
    )
    password = forms.CharField(
        label="Test password",
        max_length=256,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )

    def disable(self) -> None:
        for field in self.fields.values():
            field.disabled = True
