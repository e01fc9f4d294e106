"""The sign-up form: an account, its organization and the organization's first App."""

from __future__ import annotations

from typing import Any

from allauth.account.forms import SignupForm as AllauthSignupForm
from allauth.core import context
from django import forms
from django.contrib.auth.models import User
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.http import HttpRequest

from sessioncloud.accounts.adapters import (
    accept_invitation,
    forget_invitation,
    start_organization,
    stashed_invitation,
)
from sessioncloud.accounts.models import record_audit
from sessioncloud.providers.appdata import audit_snapshot
from sessioncloud.providers.models import App

# Sign-up field -> App model field; the App model's validators judge them.
APP_FIELDS = {"provider_id": "provider_id", "app_name": "name", "sip_domain": "sip_domain"}
ORGANIZATION_FIELDS = ("organization", *APP_FIELDS)


class SignupForm(AllauthSignupForm):
    organization = forms.CharField(
        label="Organization",
        max_length=200,
        help_text="Your company, as your team will see it.",
    )
    provider_id = forms.CharField(
        label="ProviderId",
        max_length=32,
        help_text="What your users type in the softphone: 3 to 32 letters and digits, "
        "starting with a letter. It cannot be changed later.",
    )
    app_name = forms.CharField(label="App name", max_length=100, help_text="For example Acme Telecom.")
    sip_domain = forms.CharField(
        label="SIP domain",
        max_length=260,
        help_text="Your PBX: host or host:port.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invitation = stashed_invitation(context.request)
        if self.invitation is not None:
            # Joining an organization by invitation: nothing to create.
            for name in ORGANIZATION_FIELDS:
                del self.fields[name]
            self.fields["email"].initial = self.invitation.email

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.invitation is not None:
            email = cleaned.get("email") or ""
            if email and email.lower() != self.invitation.email.lower():
                self.add_error(
                    "email", f"Use the address the invitation was sent to: {self.invitation.email}."
                )
            return cleaned
        self.first_app = self._validated_app(cleaned)
        return cleaned

    def _validated_app(self, cleaned: dict[str, Any]) -> App | None:
        app = App(**{model: (cleaned.get(name) or "").strip() for name, model in APP_FIELDS.items()})
        try:
            app.full_clean(exclude=["organization"])
        except ValidationError as error:
            form_field = {model: name for name, model in APP_FIELDS.items()}
            for field, messages in error.message_dict.items():
                name = form_field.get(field, NON_FIELD_ERRORS)
                if name not in self.errors:  # a field that failed already says why
                    self.add_error(name, messages)
            return None
        return app

    def save(self, request: HttpRequest) -> User:
        with transaction.atomic():
            user = super().save(request)
            if self.invitation is not None:
                accept_invitation(self.invitation, user)
                forget_invitation(request)
            else:
                self._start(user)
        return user

    def _start(self, user: User) -> None:
        organization = start_organization(self.cleaned_data["organization"].strip(), user)
        app = self.first_app
        assert app is not None  # clean() validated it
        app.organization = organization
        app.save()
        record_audit(organization, user.email, "app.create", app, None, audit_snapshot(app))
