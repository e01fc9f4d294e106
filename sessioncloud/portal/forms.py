"""Portal forms. App settings are ModelForms, so the App model's validators are the rules."""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile

from sessioncloud.accounts.models import Role
from sessioncloud.providers.logos import LogoError, store_logo
from sessioncloud.providers.models import App, Logo, Transport
from sessioncloud.providers.outbound import check_provisioning_url
from sessioncloud.providers.validators import MAX_HELP_LINKS, validate_header_value

LOGO_ACCEPT = "image/png,image/jpeg,image/webp"


class AppSettingsForm(forms.ModelForm):
    """One page of App settings, saved with exactly its own fields."""

    extra_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.warnings: list[str] = []

    @property
    def update_fields(self) -> list[str]:
        return [*self._meta.fields, *self.extra_fields, "updated"]  # type: ignore[misc]

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
        fields = ["name", "kind", "enabled", "ios_bundle_id", "android_package"]
        widgets = {"kind": forms.RadioSelect}
        labels = {"ios_bundle_id": "iOS bundle id", "android_package": "Android package name"}
        help_texts = {
            "enabled": "A disabled App answers phones as if it did not exist.",
            "ios_bundle_id": "Whitelabel only, for example com.acme.phone.",
            "android_package": "Whitelabel only, for example com.acme.phone.",
        }


class _AlwaysSubmitted(forms.HiddenInput):
    """Makes the ModelForm save an emptied list (it skips fields "omitted" from the POST)."""

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return False


class BrandingForm(AppSettingsForm):
    extra_fields = ("logo", "logo_dark")

    logo_file = forms.FileField(
        label="Logo (light background)", required=False,
        widget=forms.ClearableFileInput(attrs={"accept": LOGO_ACCEPT}),
        help_text="PNG, JPEG or WebP, at most 1 MB and 4096×4096 pixels.",
    )
    remove_logo = forms.BooleanField(label="Remove this logo", required=False)
    logo_dark_file = forms.FileField(
        label="Logo for dark backgrounds (optional)", required=False,
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
            "theme_color": "#RRGGBB. Colours keypad digits, menu titles and controls.",
            "help_menu_title": "The title of the help menu in the app.",
            "credentials_source": "Which user name and password replace %user% and %pwd% in help links.",
            "contact_email": "Shown to your users in the app.",
        }
        widgets = {"theme_color": forms.TextInput(attrs={"pattern": "#[0-9A-Fa-f]{6}", "maxlength": 7})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        links = list(self.instance.help_links or [])
        for index in range(1, MAX_HELP_LINKS + 1):
            link = links[index - 1] if index <= len(links) else {"title": "", "url": ""}
            self.fields[f"link_title_{index}"] = forms.CharField(
                label=f"Title {index}", required=False, max_length=100, initial=link["title"])
            self.fields[f"link_url_{index}"] = forms.CharField(
                label=f"URL {index}", required=False, max_length=1000, initial=link["url"],
                widget=forms.TextInput(attrs={"placeholder": "https://"}))

    @property
    def link_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [(self[f"link_title_{i}"], self[f"link_url_{i}"]) for i in range(1, MAX_HELP_LINKS + 1)]

    def clean_help_links(self) -> list[dict[str, str]]:
        rows = []
        for index in range(1, MAX_HELP_LINKS + 1):
            title = (self.data.get(f"link_title_{index}") or "").strip()
            url = (self.data.get(f"link_url_{index}") or "").strip()
            if title or url:
                rows.append({"title": title, "url": url})
        return rows

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


class SipForm(AppSettingsForm):
    class Meta:
        model = App
        fields = [
            "sip_domain", "sip_proxy", "sip_transport", "use_subdomains", "login_fields",
            "srtp", "messaging", "video", "callrecording", "voicemail_number", "registration_expires",
        ]
        labels = {
            "sip_domain": "Domain", "sip_proxy": "Outbound proxy", "srtp": "SRTP",
            "callrecording": "Call recording", "registration_expires": "Registration expiry (seconds)",
        }
        help_texts = {
            "sip_domain": "host or host:port. Without a port phones use 5060 (5061 with TLS).",
            "sip_proxy": "Optional, host or host:port.",
            "use_subdomains": "An account's subdomain goes in front of the domain "
                              "(pbx1 becomes pbx1.sip.example.com).",
            "login_fields": "What the app asks for when users type their SIP credentials.",
            "voicemail_number": "Optional, for example *97.",
            "registration_expires": "From 30 to 86400.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sip_transport"].choices = [(value, value) for value in Transport.values]


class ProvisioningForm(AppSettingsForm):
    extra_fields = ("provisioning_auth_header",)

    auth_header = forms.CharField(
        label="New value", required=False, max_length=1000, validators=[validate_header_value],
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="Sent as the Authorization header to your service, for example Bearer and a token. "
                  "Stored encrypted and never shown again. Leave blank to keep the current value.",
    )
    clear_auth_header = forms.BooleanField(label="Remove the current header", required=False)
    provisioning_url = forms.URLField(
        label="URL of your provisioning web service", required=False, max_length=1000,
        assume_scheme="https",
        help_text="https:// only. SessionCloud appends username, password, reprovision and deviceId.",
    )

    class Meta:
        model = App
        fields = [
            "provisioning_mode", "provisioning_url", "provisioning_timeout",
            "username_placeholder", "password_placeholder", "token_ttl_hours",
        ]
        labels = {
            "provisioning_mode": "Mode",
            "provisioning_timeout": "Timeout (seconds)",
            "username_placeholder": "Username placeholder", "password_placeholder": "Password placeholder",
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
