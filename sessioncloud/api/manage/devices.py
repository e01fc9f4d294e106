"""The device ledger, the provisioning log and the provisioning test bench."""

from __future__ import annotations

from django.db import transaction
from ninja import Query

from sessioncloud.accounts import tenancy
from sessioncloud.api.auth import ApiRequest
from sessioncloud.api.errors import ApiError
from sessioncloud.api.manage import router
from sessioncloud.api.manage.common import app_for, audit, device_for, invalid, page_bounds
from sessioncloud.api.schemas import DeviceOut, ErrorOut, LogEntryOut, TestBenchIn, TestBenchOut
from sessioncloud.providers.models import LOG_OUTCOMES, Device, DeviceStatus, ProvisioningLogEntry
from sessioncloud.providers.provision import test_bench

ERRORS = {401: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def device_json(device: Device) -> dict:
    return {
        "deviceId": device.device_id,
        "username": device.username or None,
        "externalId": device.end_user.external_id if device.end_user else None,
        "platform": device.platform or None,
        "appVersion": device.app_version or None,
        "firstSeen": device.first_seen.isoformat(),
        "lastSeen": device.last_seen.isoformat(),
        "lastResult": device.last_result or None,
        "status": device.status,
    }


def log_json(entry: ProvisioningLogEntry) -> dict:
    return {
        "time": entry.created.isoformat(),
        "deviceId": entry.device_id or None,
        "username": entry.username or None,
        "flow": entry.flow,
        "outcome": entry.outcome,
        "errorCode": entry.error_code or None,
        "detail": entry.detail or None,
        "upstreamStatus": entry.upstream_status,
        "upstreamLatencyMs": entry.upstream_latency_ms,
        "accounts": entry.accounts,
    }


@router.get("/apps/{provider_id}/devices", response={200: list[DeviceOut], **ERRORS})
def list_devices(request: ApiRequest, provider_id: str) -> list[dict]:
    app = app_for(request, provider_id)
    return [device_json(d) for d in tenancy.devices_of(app)[:1000]]


@router.post("/apps/{provider_id}/devices/{device_id}/deactivate", response={200: DeviceOut, **ERRORS})
def deactivate_device(request: ApiRequest, provider_id: str, device_id: str) -> dict:
    app = app_for(request, provider_id)
    device = device_for(app, device_id)
    if device.status != DeviceStatus.DEACTIVATED:
        device.status = DeviceStatus.DEACTIVATED
        with transaction.atomic():  # the change and its audit entry, or neither (even on a crash)
            device.save(update_fields=["status"])
            audit(request, "device.deactivate", device, {"status": "active"}, {"status": "deactivated"})
    return device_json(device)


@router.get("/apps/{provider_id}/provisioning-log", response={200: list[LogEntryOut], **ERRORS})
def provisioning_log(
    request: ApiRequest, provider_id: str, outcome: Query[str | None] = None, limit: int = 100
) -> list[dict]:
    app = app_for(request, provider_id)
    if outcome is not None and outcome not in LOG_OUTCOMES:
        raise invalid({"outcome": f"Use one of: {', '.join(LOG_OUTCOMES)}."})
    page = page_bounds(limit)
    entries = tenancy.provisioning_log_of(app)
    if outcome:
        entries = entries.filter(outcome=outcome)
    return [log_json(e) for e in entries[page]]


@router.post("/apps/{provider_id}/provisioning/test", response={200: TestBenchOut, **ERRORS})
def provisioning_test(request: ApiRequest, provider_id: str, payload: TestBenchIn) -> dict:
    app = app_for(request, provider_id)
    if not app.provisioning_url:
        raise ApiError(
            409, "external_provisioning_disabled", "Set the URL of your provisioning service first."
        )
    return test_bench(app, payload.username, payload.password)
