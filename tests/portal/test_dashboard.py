"""The App dashboard: calls and failures per day as an SVG chart, and the App's totals."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from django.utils import timezone

from sessioncloud.portal.chart import HEIGHT, daily_chart, last_days, tick_step
from sessioncloud.providers.models import App, Device, ProvisioningLogEntry, SetupToken
from sessioncloud.providers.tokens import issue_token, revoke
from tests.factories import make_end_user

pytestmark = pytest.mark.django_db

PAGE = "/portal/apps/AcmeInc/dashboard/"


def log_rows(app: App, days_ago: int, outcome: str, count: int, flow: str = "provision") -> None:
    when = datetime.combine(
        timezone.localdate() - timedelta(days=days_ago), time(12), tzinfo=timezone.get_current_timezone()
    )
    for _ in range(count):
        entry = ProvisioningLogEntry.objects.create(app=app, flow=flow, outcome=outcome)
        ProvisioningLogEntry.objects.filter(pk=entry.pk).update(created=when)


@pytest.fixture
def seeded_log(app: App) -> None:
    log_rows(app, 0, "ok", 4)
    log_rows(app, 0, "failed", 2)
    log_rows(app, 1, "rejected", 1)
    log_rows(app, 29, "ok", 3)
    log_rows(app, 29, "failed", 1)
    log_rows(app, 30, "ok", 7)  # one day too old for the chart
    log_rows(app, 0, "failed", 5, flow="test_bench")  # the provider's own tests are not phone calls


def chart_counts(response: Any) -> dict[date, tuple[int, int]]:
    return {
        day.day: (day.calls.value, day.failures.value)
        for day in response.context["chart"].days
        if day.calls.value or day.failures.value
    }


def test_the_chart_counts_match_the_seeded_log_rows(owner_client, app, seeded_log):
    response = owner_client.get(PAGE)
    today = timezone.localdate()
    assert chart_counts(response) == {
        today: (6, 2),
        today - timedelta(days=1): (1, 0),
        today - timedelta(days=29): (4, 1),
    }
    chart = response.context["chart"]
    assert ([day.day for day in chart.days][::29], len(chart.days)) == (
        [today - timedelta(days=29), today],
        30,
    )
    assert (chart.total_calls, chart.total_failures) == (11, 3)


def test_the_chart_is_server_rendered_svg_with_the_numbers_in_its_bars(owner_client, app, seeded_log):
    content = owner_client.get(PAGE).content.decode()
    today = timezone.localdate().isoformat()
    day = re.search(rf'<g class="day" data-day="{today}">(.*?)</g>', content, re.S).group(1)
    assert re.findall(r'<rect class="(calls|failures)"[^>]*data-value="(\d+)"', day) == [
        ("calls", "6"),
        ("failures", "2"),
    ]
    assert '<strong id="chart-calls">11</strong>' in content
    assert '<strong id="chart-failures">3</strong>' in content
    assert f"<tr><td>{today}</td><td>6</td><td>2</td></tr>" in content
    # The chart needs no script: the page's only one holds small enhancements of every page.
    assert re.findall(r"<script[^>]*>", content) == ['<script src="/static/portal/portal.js" defer>']


def test_the_dashboard_totals(owner_client, app):
    user = make_end_user(app, "cust-1001")
    make_end_user(app, "cust-1002")
    Device.objects.create(app=app, device_id="phone-1")
    Device.objects.create(app=app, device_id="phone-2")
    Device.objects.create(app=app, device_id="phone-3", status="deactivated")
    issue_token(user)
    issue_token(user)
    revoke(issue_token(user).token)
    expired = issue_token(user).token
    SetupToken.objects.filter(pk=expired.pk).update(expires=timezone.now() - timedelta(seconds=1))
    response = owner_client.get(PAGE)
    assert response.context["totals"] == {
        "end_users": 2,
        "devices_active": 2,
        "devices_deactivated": 1,
        "pending_tokens": 2,
    }
    assert '<span class="total-value" id="total-pending-tokens">2</span>' in response.content.decode()


def test_the_dashboard_lists_recent_failures_with_escaped_detail(owner_client, app):
    ProvisioningLogEntry.objects.create(
        app=app,
        flow="provision",
        outcome="failed",
        username="1000",
        error_code="provider_timeout",
        detail="<b>no answer</b> in 8 s",
    )
    content = owner_client.get(PAGE).content.decode()
    assert '<code class="detail">&lt;b&gt;no answer&lt;/b&gt; in 8 s</code>' in content


def test_the_app_page_opens_on_the_dashboard(owner_client, app):
    assert owner_client.get("/portal/apps/AcmeInc/")["Location"] == PAGE


def test_a_tick_step_is_one_two_or_five_times_a_power_of_ten():
    assert [tick_step(n) for n in (1, 5, 6, 10, 11, 24, 26, 49, 51, 240, 260)] == [
        1,
        1,
        2,
        2,
        5,
        5,
        10,
        10,
        20,
        50,
        100,
    ]


def test_bars_scale_to_the_rounded_up_peak():
    days = last_days(date(2026, 3, 30), 30)
    assert (days[0], days[-1]) == (date(2026, 3, 1), date(2026, 3, 30))
    chart = daily_chart(days, {date(2026, 3, 30): (7, 3), date(2026, 3, 1): (1, 0)})
    assert [tick.value for tick in chart.ticks] == [0, 2, 4, 6, 8]
    last = chart.days[-1]
    plot = HEIGHT - 28 - 12
    assert (last.calls.height, last.failures.height) == (round(plot * 7 / 8, 2), round(plot * 3 / 8, 2))
    assert last.calls.y + last.calls.height == HEIGHT - 28  # bars stand on the axis
    assert chart.days[0].failures.height == 0
    assert [day.label for day in chart.days if day.label] == [
        "05 Mar",
        "10 Mar",
        "15 Mar",
        "20 Mar",
        "25 Mar",
        "30 Mar",
    ]


def test_an_empty_chart_still_has_an_axis():
    chart = daily_chart(last_days(date(2026, 3, 30), 30), {})
    assert [tick.value for tick in chart.ticks] == [0, 1]
    assert {day.calls.height for day in chart.days} == {0}
