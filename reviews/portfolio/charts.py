"""Line charts drawn on the server as SVG: readable without JavaScript, with a title, a
description and the figures in a table beside them (the template shows both).

A charting library would add a dependency and client-side code for one kind of chart;
a polyline over a 0 to 100 scale is a few lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 12, 28


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class LineChart:
    points: str  # the polyline's "x,y x,y …"
    dots: list[tuple[float, float]]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    description: str
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_right(self) -> int:
        return self.width - RIGHT

    @property
    def plot_bottom(self) -> int:
        return self.height - BOTTOM


def readiness_chart(series: list[tuple[date, float]], what: str) -> LineChart | None:
    """A chart of readiness (0 to 100 %) over the days in ``series``; None when empty."""
    if not series:
        return None
    first, last = series[0][0], series[-1][0]
    span = max((last - first).days, 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: date) -> float:
        return round(LEFT + plot_w * (day - first).days / span, 1)

    def y(value: float) -> float:
        return round(TOP + plot_h * (1 - max(0.0, min(value, 100.0)) / 100), 1)

    dots = [(x(day), y(value)) for day, value in series]
    step = max(1, len(series) // 6)
    x_ticks = [Tick(x(day), HEIGHT - 8, f"{day:%b %-d}") for day, _ in series[::step]]
    y_ticks = [Tick(LEFT - 6, y(v), f"{v}%") for v in (0, 25, 50, 75, 100)]
    low = min(value for _, value in series)
    high = max(value for _, value in series)
    description = (
        f"{what} from {first:%Y-%m-%d} to {last:%Y-%m-%d}: {series[0][1]:.0f}% at the start, "
        f"{series[-1][1]:.0f}% now, between {low:.0f}% and {high:.0f}%."
    )
    return LineChart(
        points=" ".join(f"{px},{py}" for px, py in dots),
        dots=dots if len(dots) <= 31 else [],
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        description=description,
    )
