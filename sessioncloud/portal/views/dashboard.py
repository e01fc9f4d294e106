"""An App's dashboard and its provisioning test bench."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from sessioncloud.accounts.tenancy import (
    devices_of,
    end_users_of,
    provisioning_log_of,
    tokens_with_status,
)
from sessioncloud.portal.access import PortalRequest, app_for_user, org_required
from sessioncloud.portal.chart import daily_chart, last_days
from sessioncloud.portal.forms import TestBenchForm
from sessioncloud.providers.models import App, DeviceStatus
from sessioncloud.providers.provision import test_bench

CHART_DAYS = 30
# Calls made from the test bench are the provider's own, not its phones'.
BENCH_FLOW = "test_bench"
RECENT_FAILURES = 5


@org_required
def dashboard(request: PortalRequest, provider_id: str) -> HttpResponse:
    app = app_for_user(request, provider_id)
    days = last_days(timezone.localdate(), CHART_DAYS)
    devices = devices_of(app).order_by().values("status").annotate(count=Count("id"))
    by_status = {row["status"]: row["count"] for row in devices}
    return render(
        request,
        "portal/dashboard.html",
        {
            "app": app,
            "page": "dashboard",
            "chart": daily_chart(days, calls_per_day(app, days[0])),
            "totals": {
                "end_users": end_users_of(app).count(),
                "devices_active": by_status.get(DeviceStatus.ACTIVE, 0),
                "devices_deactivated": by_status.get(DeviceStatus.DEACTIVATED, 0),
                "pending_tokens": tokens_with_status(app, "pending").count(),
            },
            "failures": provisioning_log_of(app)
            .filter(outcome="failed")
            .exclude(flow=BENCH_FLOW)[:RECENT_FAILURES],
        },
    )


def calls_per_day(app: App, first_day: date) -> dict[date, tuple[int, int]]:
    """(calls, failures) of phones per day since first_day; a failure is an upstream failure."""
    since = datetime.combine(first_day, time.min, tzinfo=timezone.get_current_timezone())
    rows = (
        provisioning_log_of(app)
        .filter(created__gte=since)
        .exclude(flow=BENCH_FLOW)
        .order_by()
        .annotate(day=TruncDate("created"))
        .values("day")
        .annotate(calls=Count("id"), failures=Count("id", filter=Q(outcome="failed")))
    )
    return {row["day"]: (row["calls"], row["failures"]) for row in rows}


@never_cache  # the answer holds the accounts (with passwords) the provider's service returned
@org_required
def test_bench_page(request: PortalRequest, provider_id: str) -> HttpResponse:
    app = app_for_user(request, provider_id)
    form = TestBenchForm(request.POST if request.method == "POST" else None)
    report = None
    if form.is_bound and form.is_valid():
        if app.provisioning_url:
            report = _shown(test_bench(app, form.cleaned_data["username"], form.cleaned_data["password"]))
        else:
            form.add_error(
                None, "Set the URL of your provisioning web service on the Provisioning page first."
            )
    if not request.membership.can_edit:
        form.disable()
    return render(
        request, "portal/test_bench.html", {"app": app, "page": "test_bench", "form": form, "report": report}
    )


def _shown(report: dict[str, Any]) -> dict[str, Any]:
    answer = report["answer"]
    return {
        **report,
        "headers": sorted(report["request"]["headers"].items()),
        "answer_json": json.dumps(answer, indent=2, ensure_ascii=False) if answer is not None else "",
    }
