"""The audit log as people read it: a sentence per change, filters, and a CSV export; and how
a portal page writes an entry (`record`).

The stored rows keep their action codes (`apikey.revoke`): they are the stable vocabulary of
the management API and of scripts. This module only words them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from string import Formatter
from typing import Any, cast

from django import forms
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format

from sessioncloud.accounts import tenancy
from sessioncloud.accounts.models import AuditEntry, Organization, record_audit
from sessioncloud.onboarding.csvfile import write_csv
from sessioncloud.portal.access import PortalRequest
from sessioncloud.portal.forms import DateRangeForm

# action code -> (what the filter calls it, the sentence; {object} is the object's name, other
# {names} come from the entry's after/before snapshot).
ACTIONS: dict[str, tuple[str, str]] = {
    "organization.create": ("Organization created", "Created the organization {object}."),
    "app.create": ("App created", "Created the App {object}."),
    "app.general": ("App general settings changed", "Changed the general settings of the App {object}."),
    "app.branding": ("App branding changed", "Changed the branding of the App {object}."),
    "app.sip": ("App SIP profile changed", "Changed the SIP profile of the App {object}."),
    "app.provisioning": (
        "App provisioning changed",
        "Changed the provisioning settings of the App {object}.",
    ),
    "app.update": ("App settings changed", "Changed the settings of the App {object}."),
    "app.logo.light": ("Logo uploaded", "Uploaded a logo for the App {object}."),
    "app.logo.dark": ("Dark logo uploaded", "Uploaded a logo for dark backgrounds for the App {object}."),
    "app.signing_secret.rotate": (
        "Signing secret rotated",
        "Rotated the signing secret of the App {object}.",
    ),
    "app.signing_secret.end_rotation": (
        "Secret rotation ended",
        "Ended the signing secret rotation of the App {object}.",
    ),
    "app.delete": ("App deleted", "Deleted the App {object}."),
    "enduser.create": ("End user added", "Added the end user {object}."),
    "enduser.update": ("End user changed", "Changed the end user {object}."),
    "enduser.replace": ("End user replaced", "Changed the end user {object}."),
    "enduser.delete": ("End user deleted", "Deleted the end user {object}."),
    "enduser.export": (
        "End users exported with passwords",
        "Exported the end users of {object} with their passwords.",
    ),
    "token.create": ("Setup token created", "Created a setup token for the end user {externalId}."),
    "token.revoke": ("Setup token revoked", "Revoked the setup {object}."),
    "device.deactivate": ("Device deactivated", "Deactivated the device {object}."),
    "job.start": ("Bulk job started", "Started a bulk job: {object}."),
    "email.settings": ("Setup e-mail changed", "Changed the {object}."),
    "apikey.create": ("API key created", "Created the API key {object}."),
    "apikey.revoke": ("API key revoked", "Revoked the API key {object}."),
    "invitation.create": ("Invitation sent", "Invited {email} as {role}."),
    "invitation.revoke": ("Invitation revoked", "Revoked the invitation to {email}."),
    "member.join": ("Member joined", "Joined the organization as {role}."),
    "member.role": ("Role changed", "Changed the role of {object} to {role}."),
    "member.remove": ("Member removed", "Removed {object} from the team."),
}
CSV_COLUMNS = ("time", "who", "what", "action", "app", "object_type", "object", "changes")


def record(
    request: HttpRequest, action: str, obj: Any, before: dict | None = None, after: dict | None = None
) -> AuditEntry:
    """An entry for a change made on a portal page: by the signed-in person, in the organization
    `org_required` chose. Snapshots come with secrets already masked."""
    portal_request = cast(PortalRequest, request)
    return record_audit(portal_request.org, portal_request.user.email, action, obj, before, after)


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        return "—"


def sentence(entry: AuditEntry) -> str:
    """What happened, in words: "Revoked the API key Billing (sck_Ab12…)."."""
    template = ACTIONS.get(entry.action, ("", "{action} {object_type} {object}."))[1]
    values = _Missing({**(entry.before or {}), **(entry.after or {})})
    values.update(object=entry.object_repr, action=entry.action, object_type=entry.object_type)
    if isinstance(values.get("role"), str):
        values["role"] = values["role"].lower()
    names = {name for _, name, _, _ in Formatter().parse(template) if name}
    return template.format_map({name: _shown(values[name]) for name in names})


def changes(entry: AuditEntry) -> list[tuple[str, str, str]]:
    """The keys an entry changed, as (key, before, after) texts."""
    before, after = entry.before or {}, entry.after or {}
    return [
        (key, _shown(before.get(key)), _shown(after.get(key)))
        for key in sorted({*before, *after})
        if before.get(key) != after.get(key)
    ]


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        return _as_local_time(value) or value
    return json.dumps(value, ensure_ascii=False)


def _as_local_time(text: str) -> str | None:
    """An ISO timestamp (as snapshots store them) in the viewer's zone, to the minute."""
    if len(text) < 19 or text[4] != "-" or "T" not in text:
        return None
    try:
        moment = parse_datetime(text)
    except ValueError:
        return None
    if moment is None or timezone.is_naive(moment):
        return None
    return date_format(timezone.localtime(moment), "j M Y H:i")


# --- filters ----------------------------------------------------------------------------------


class AuditFilterForm(DateRangeForm):
    person = forms.ChoiceField(label="Who", required=False)
    action = forms.ChoiceField(label="What", required=False)
    app = forms.ChoiceField(label="App", required=False)
    field_order = ["person", "action", "app", "since", "until"]

    def __init__(self, data: Any, *, organization: Organization):
        super().__init__(data)
        entries = tenancy.audit_entries_of(organization).order_by()
        people = sorted(set(entries.values_list("actor", flat=True)), key=str.lower)
        codes = set(entries.values_list("action", flat=True))
        apps = sorted(
            set(entries.exclude(app_provider_id="").values_list("app_provider_id", flat=True)), key=str.lower
        )
        self.fields["person"].choices = [("", "Anyone"), *((p, p) for p in people)]
        self.fields["action"].choices = [
            ("", "Any change"),
            *sorted(
                ((code, ACTIONS.get(code, (code, ""))[0]) for code in codes),
                key=lambda choice: choice[1].lower(),
            ),
        ]
        self.fields["app"].choices = [("", "Any App or none"), *((a, a) for a in apps)]


def filtered(entries: QuerySet[AuditEntry], form: AuditFilterForm) -> QuerySet[AuditEntry]:
    """The entries the valid filters let through (a bad filter is shown, the others still apply)."""
    form.is_valid()
    chosen = form.cleaned_data
    for name, lookup in (("person", "actor"), ("action", "action"), ("app", "app_provider_id")):
        if chosen.get(name):
            entries = entries.filter(**{lookup: chosen[name]})
    return form.in_range(entries)


# --- CSV --------------------------------------------------------------------------------------


def csv_rows(entries: Iterable[AuditEntry], zone: Any) -> Iterator[dict[str, str]]:
    """One row per entry; times in the viewer's zone, to the second, with its UTC offset."""
    for entry in entries:
        with timezone.override(zone):
            what, changed = sentence(entry), changes(entry)
        row = {
            "time": timezone.localtime(entry.created, zone).replace(microsecond=0).isoformat(),
            "who": entry.actor,
            "what": what,
            "action": entry.action,
            "app": entry.app_provider_id,
            "object_type": entry.object_type,
            "object": entry.object_repr,
            "changes": json.dumps({key: [old, new] for key, old, new in changed}, ensure_ascii=False)
            if changed
            else "",
        }
        yield row


def audit_csv(entries: QuerySet[AuditEntry]) -> Iterator[str]:
    """The export, line by line (cells a spreadsheet would run as formulas are defused)."""
    return write_csv(
        csv_rows(entries.iterator(chunk_size=1000), timezone.get_current_timezone()), CSV_COLUMNS
    )
