"""The one error shape of every JSON answer: {"error": {"code": ..., "message": ...}} (plus `fields`).

Framework-free, so the phone-facing code that answers without the API's views (the Linphone
flow in `providers/linphone.py`) speaks the same shape without importing the API.
"""

from __future__ import annotations

from typing import Any


def error_body(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields is not None:
        error["fields"] = fields
    return {"error": error}
