"""The dashboard's bar chart: provisioning calls and failures per day, drawn as plain SVG.

Framework-free: it turns counts into coordinates, and the template writes the SVG elements,
so the chart needs no script and no chart library, and works with JavaScript off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 28  # room for the axis labels
BAR_GAP = 1.0
LABEL_EVERY = 5  # days between date labels under the axis


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int


@dataclass(frozen=True)
class Day:
    day: date
    calls: Bar
    failures: Bar
    label: str  # empty for the days between two labels
    label_x: float


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class Chart:
    days: list[Day]
    ticks: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    bottom: int = HEIGHT - BOTTOM

    @property
    def total_calls(self) -> int:
        return sum(day.calls.value for day in self.days)

    @property
    def total_failures(self) -> int:
        return sum(day.failures.value for day in self.days)


def last_days(today: date, count: int) -> list[date]:
    return [today - timedelta(days=offset) for offset in range(count - 1, -1, -1)]


def tick_step(maximum: int) -> int:
    """A round step (1, 2 or 5 times a power of ten) that divides 0..maximum in at most 5 parts."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if maximum <= step * factor * 5:
                return step * factor
        step *= 10


def daily_chart(days: list[date], counts: dict[date, tuple[int, int]]) -> Chart:
    """Bars for each day: counts maps a day to (calls, failures); missing days count zero."""
    plot_height = HEIGHT - BOTTOM - TOP
    column = (WIDTH - LEFT - RIGHT) / len(days)
    bar_width = (column - 3 * BAR_GAP) / 2
    peak = max((calls for calls, _ in counts.values()), default=0)
    step = tick_step(max(peak, 1))
    top_value = step * -(-max(peak, 1) // step)  # the peak rounded up to a whole step

    def bar(x: float, value: int) -> Bar:
        height = round(plot_height * value / top_value, 2)
        return Bar(round(x, 2), round(HEIGHT - BOTTOM - height, 2), round(bar_width, 2), height, value)

    chart_days = []
    for index, day in enumerate(days):
        calls, failures = counts.get(day, (0, 0))
        x = LEFT + index * column + BAR_GAP
        label = f"{day:%d %b}" if (len(days) - 1 - index) % LABEL_EVERY == 0 else ""
        chart_days.append(
            Day(
                day,
                bar(x, calls),
                bar(x + bar_width + BAR_GAP, failures),
                label,
                round(LEFT + (index + 0.5) * column, 2),
            )
        )
    ticks = [
        Tick(round(HEIGHT - BOTTOM - plot_height * value / top_value, 2), value)
        for value in range(0, top_value + 1, step)
    ]
    return Chart(chart_days, ticks)
