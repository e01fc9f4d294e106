"""The end-user CSV export: the import's own columns, passwords only when asked for (audited)."""

from __future__ import annotations

from collections.abc import Iterator

from django.utils import timezone

from sessioncloud.accounts.models import record_audit
from sessioncloud.onboarding.csvfile import COLUMNS, PASSWORD_COLUMNS, write_csv
from sessioncloud.providers.models import App, EndUser


def export_csv(app: App, *, passwords: bool, actor: str) -> Iterator[str]:
    """The CSV text, line by line, ordered by external id; stream it to the client."""
    users = EndUser.objects.filter(app=app).order_by("external_id")
    if passwords:
        record_audit(
            app.organization,
            actor,
            "enduser.export",
            app,
            None,
            {"passwords": True, "endUsers": users.count()},
        )
    else:
        users = users.defer(*PASSWORD_COLUMNS)  # never decrypted when not exported
    return write_csv(_row(user, passwords) for user in users.iterator(chunk_size=1000))


def _row(user: EndUser, passwords: bool) -> dict[str, str]:
    return {
        column: "" if column in PASSWORD_COLUMNS and not passwords else (getattr(user, column) or "")
        for column in COLUMNS
    }


def export_filename(app: App) -> str:
    return f"{app.provider_id}-endusers-{timezone.now():%Y-%m-%d}.csv"
