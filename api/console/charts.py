"""Line charts as SVG, drawn on the server: no script, no library, a few hundred bytes each.

A chart is a polyline over equally spaced periods with its zero line, its highest value and the
first and last period named; every point carries a <title> (a tooltip on a laptop, read by screen
readers). The same figures are always in a table beside the chart, which is what prints and what
assistive technology reads first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

WIDTH, HEIGHT = 320, 150
LEFT, RIGHT, TOP, BOTTOM = 8, 8, 22, 22


@dataclass(frozen=True)
class Point:
    label: str  # the period as its reader writes it
    value: float | None  # None: no figure for the period (nothing to divide by)
    text: str  # the value as its reader writes it


def points(labels: Sequence[str], values: Sequence[float | None],
           fmt: Callable[[float | None], str]) -> list[Point]:
    return [Point(label, value, fmt(value)) for label, value in zip(labels, values, strict=True)]


def line_chart(title: str, data: Sequence[Point], *, empty: str) -> Markup:
    """An SVG line chart of `data`, or a sentence (`empty`) when no period has a figure."""
    known = [p.value for p in data if p.value is not None]
    if not known:
        return Markup('<p class="chart-empty">{}</p>').format(empty)
    top = max(*known, 0.0)
    bottom = min(*known, 0.0)
    span = (top - bottom) or 1.0
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = inner_w / max(len(data) - 1, 1)

    def y(value: float) -> float:
        return TOP + inner_h - (value - bottom) / span * inner_h

    parts = [Markup('<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
                    'xmlns="http://www.w3.org/2000/svg" dir="ltr">').format(WIDTH, HEIGHT, title),
             Markup("<title>{}</title>").format(title),
             Markup('<line class="axis" x1="{0}" x2="{1}" y1="{2:.1f}" y2="{2:.1f}"/>').format(
                 LEFT, WIDTH - RIGHT, y(0.0))]
    best = max((p for p in data if p.value is not None), key=lambda p: p.value or 0.0)
    parts.append(Markup('<text class="max" x="{}" y="14">{}</text>').format(LEFT, best.text))
    segment: list[str] = []
    for i, p in enumerate(data):
        if p.value is None:  # a gap in the line where a period has no figure
            parts.extend(_polyline(segment))
            segment = []
            continue
        x, yy = LEFT + i * step, y(p.value)
        segment.append(f"{x:.1f},{yy:.1f}")
        parts.append(Markup('<circle cx="{:.1f}" cy="{:.1f}" r="2.5"><title>{}: {}</title></circle>').format(
            x, yy, p.label, p.text))
    parts.extend(_polyline(segment))
    parts.append(Markup('<text class="label" x="{}" y="{}">{}</text>').format(
        LEFT, HEIGHT - 6, data[0].label))
    parts.append(Markup('<text class="label end" x="{}" y="{}" text-anchor="end">{}</text>').format(
        WIDTH - RIGHT, HEIGHT - 6, data[-1].label))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _polyline(segment: list[str]) -> list[Markup]:
    if len(segment) < 2:
        return []
    return [Markup('<polyline class="line" points="{}"/>').format(" ".join(segment))]


__all__ = ["Point", "line_chart", "points"]
