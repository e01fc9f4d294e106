"""What a CSV file does to an App's end users: a plan per row, then (unless a dry run) the writes.

Idempotent by external id: a row for a known id changes that user, and a row that matches
what is stored changes nothing. Columns a file leaves out keep their stored values; an empty
password cell keeps the stored password (so an export without passwords imports cleanly).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from sessioncloud.onboarding.audit import record_audits
from sessioncloud.onboarding.csvfile import COLUMNS, PASSWORD_COLUMNS, CsvFile, CsvRow
from sessioncloud.providers.enduserfields import FIELD_NAMED, GROUPS, PROVISIONING, SIP, FieldKind
from sessioncloud.providers.endusers import (
    EXTERNAL_ID_MESSAGE,
    enduser_audit_view,
    valid_external_id,
)
from sessioncloud.providers.models import App, EndUser
from sessioncloud.providers.validators import validate_provisioning_username

FIELDS = COLUMNS[1:]  # every column but external_id is an EndUser field of the same name
WRITE_BATCH = 200
LOOKUP_BATCH = 500

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_email_is_valid = EmailValidator()


@dataclass
class RowPlan:
    line: int
    external_id: str
    action: str = "refuse"  # create, update, unchanged or refuse
    errors: dict[str, str] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)
    target: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "externalId": self.external_id,
            "action": self.action,
            "changes": self.changes,
            "errors": self.errors,
        }


def plan_import(app: App, csv_file: CsvFile) -> list[RowPlan]:
    """One plan per row, in file order; nothing is written."""
    existing = _existing_users(app, [row.values.get("external_id", "") for row in csv_file.rows])
    lines_of: dict[str, list[int]] = {}
    for row in csv_file.rows:
        lines_of.setdefault(row.values.get("external_id", ""), []).append(row.line)
    return [_plan_row(row, csv_file.columns, existing, lines_of) for row in csv_file.rows]


def _existing_users(app: App, external_ids: list[str]) -> dict[str, EndUser]:
    wanted = sorted({value for value in external_ids if value})
    found: dict[str, EndUser] = {}
    for start in range(0, len(wanted), LOOKUP_BATCH):
        batch = wanted[start : start + LOOKUP_BATCH]
        found.update(
            (user.external_id, user) for user in EndUser.objects.filter(app=app, external_id__in=batch)
        )
    return found


def _plan_row(
    row: CsvRow, columns: tuple[str, ...], existing: dict[str, EndUser], lines_of: dict[str, list[int]]
) -> RowPlan:
    external_id = row.values.get("external_id", "")
    plan = RowPlan(row.line, external_id)
    if row.cells != len(columns):
        plan.errors["row"] = f"This row has {row.cells} cells; the header has {len(columns)}."
        return plan
    external_id_error = _external_id_error(external_id, lines_of.get(external_id, []), row.line)
    if external_id_error:
        plan.errors["external_id"] = external_id_error
    values = {column: _normalised(column, value) for column, value in row.values.items()}
    plan.errors.update(_value_errors(values))
    user = existing.get(external_id)
    current = _stored(user)
    target = dict(current)
    for column in FIELDS:
        if column in values and not (column in PASSWORD_COLUMNS and values[column] == ""):
            target[column] = values[column]
    plan.errors.update(_credential_errors(values, target))
    if plan.errors:
        return plan
    plan.target = target
    plan.changes = [column for column in FIELDS if target[column] != current[column]]
    plan.action = "create" if user is None else ("update" if plan.changes else "unchanged")
    if user is None:
        plan.changes = []
    return plan


def _external_id_error(external_id: str, lines: list[int], line: int) -> str | None:
    if not external_id:
        return "This field is required."
    if not valid_external_id(external_id):
        return EXTERNAL_ID_MESSAGE
    others = [str(other) for other in lines if other != line]
    if others:
        where = f"line {others[0]}" if len(others) == 1 else "lines " + ", ".join(others)
        return f"The same external id is also on {where}; each end user may appear once."
    return None


def _normalised(column: str, value: str) -> str:
    """A choice in any case, as it is stored ("tcp" is TCP, "enabled" is Enabled)."""
    spelled = {choice.lower(): choice for choice in FIELD_NAMED[column].choices}
    return spelled.get(value.lower(), value)


def _value_errors(values: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for column, value in values.items():
        field = FIELD_NAMED[column]
        if field.kind == FieldKind.EXTERNAL_ID or not value:
            continue
        if _CONTROL.search(value):
            errors[column] = "Must not contain line breaks or control characters."
        elif len(value) > field.max_length:
            errors[column] = f"Use at most {field.max_length} characters."
        elif field.kind == FieldKind.EMAIL and not _is_email(value):
            errors[column] = "Enter a valid email address."
        elif field.choices and value not in field.choices:
            errors[column] = _choice_error(field.choices)
        elif field == PROVISIONING.username and (problem := _username_error(value)):
            errors[column] = problem
    return errors


def _choice_error(choices: tuple[str, ...]) -> str:
    return f"Use {', '.join(choices[:-1])} or {choices[-1]}, or leave it empty."


def _username_error(value: str) -> str | None:
    """The portal's and the API's rule (the App model's validator), so every export imports back."""
    try:
        validate_provisioning_username(value)
    except ValidationError as error:
        return error.messages[0]
    return None


def _is_email(value: str) -> bool:
    try:
        _email_is_valid(value)
    except ValidationError:
        return False
    return True


def _credential_errors(values: dict[str, str], target: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for group in GROUPS:
        username, password = group.username.name, group.password.name
        columns = [field.name for field in group.fields]
        if target[username]:
            if not target[password]:
                errors[password] = "This field is required."
            continue
        if any(values.get(column) for column in columns):
            errors[username] = f"Give a {group.label} username for the {group.label} settings in this row."
        for column in columns:
            target[column] = ""  # no username, no credentials of that kind
    if not any(target[group.username.name] for group in GROUPS) and not errors:
        errors[SIP.username.name] = "Give SIP credentials, provisioning credentials, or both."
    return errors


def _stored(user: EndUser | None) -> dict[str, str]:
    return {column: (getattr(user, column) if user else "") or "" for column in FIELDS}


def apply_import(
    app: App, plans: list[RowPlan], actor: str, advance: Callable[[int], None] = lambda count: None
) -> None:
    """Write the planned creates and updates, a batch per transaction, one audit row per user.

    A row whose write fails (another request created the same user meanwhile) becomes refused.
    """
    writes = [plan for plan in plans if plan.action in ("create", "update")]
    for start in range(0, len(writes), WRITE_BATCH):
        batch = writes[start : start + WRITE_BATCH]
        try:
            with transaction.atomic():
                _write(app, batch, actor)
        except IntegrityError:
            for plan in batch:
                try:
                    with transaction.atomic():
                        _write(app, [plan], actor)
                except IntegrityError:
                    plan.action = "refuse"
                    plan.errors = {
                        "external_id": "Another change created or removed this end user "
                        "at the same moment; import the file again."
                    }
                    plan.changes = []
        advance(len(batch))


def _write(app: App, plans: list[RowPlan], actor: str) -> None:
    now = timezone.now()
    ids = [plan.external_id for plan in plans if plan.action == "update"]
    users = {
        user.external_id: user
        for user in EndUser.objects.select_for_update().filter(app=app, external_id__in=ids)
    }
    if len(users) != len(ids):
        raise IntegrityError("an end user was deleted meanwhile")
    created: list[EndUser] = []
    updated: list[EndUser] = []
    before: dict[str, dict[str, Any]] = {}
    for plan in plans:
        if plan.action == "create":
            created.append(EndUser(app=app, external_id=plan.external_id, **plan.target))
            continue
        user = users[plan.external_id]
        before[user.external_id] = enduser_audit_view(user)
        for column in plan.changes:
            setattr(user, column, plan.target[column])
        user.updated = now
        updated.append(user)
    EndUser.objects.bulk_create(created)
    changed_fields = sorted({column for plan in plans for column in plan.changes} | {"updated"})
    if updated:
        EndUser.objects.bulk_update(updated, changed_fields)
    record_audits(
        app.organization_id,
        actor,
        [
            *[("enduser.create", user, None, enduser_audit_view(user)) for user in created],
            *[
                ("enduser.replace", user, before[user.external_id], enduser_audit_view(user))
                for user in updated
            ],
        ],
    )


def import_report(plans: list[RowPlan], *, dry_run: bool) -> dict[str, Any]:
    counts = {action: 0 for action in ("create", "update", "unchanged", "refuse")}
    for plan in plans:
        counts[plan.action] += 1
    return {
        "dryRun": dry_run,
        "rows": len(plans),
        "created": counts["create"],
        "updated": counts["update"],
        "unchanged": counts["unchanged"],
        "refused": counts["refuse"],
        "lines": [plan.as_json() for plan in plans],
    }
