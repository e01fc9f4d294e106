"""Audit rows for bulk work: one per changed object, as `record_audit` writes them, in one query."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sessioncloud.accounts.models import AuditEntry, provider_id_of

# (action, object, before, after); snapshots already have their secrets masked.
Change = tuple[str, Any, dict[str, Any] | None, dict[str, Any] | None]


def record_audits(organization_id: int, actor: str, changes: Iterable[Change]) -> None:
    AuditEntry.objects.bulk_create(
        AuditEntry(
            organization_id=organization_id,
            actor=actor[:200],
            action=action,
            object_type=type(obj).__name__,
            object_repr=str(obj)[:200],
            app_provider_id=provider_id_of(obj),
            before=before,
            after=after,
        )
        for action, obj, before, after in changes
    )
