"""Counts sampled over time, and the throughput chart drawn from them.

The portable API gives a topic's counts now, not how many jobs finished,
so the dashboard samples counts (every ``interval`` seconds, and when a
page reads them) and keeps the last ``keep`` samples in memory. From them
it shows, per topic and for all topics together:

* the backlog over time: waiting (scheduled + ready), in flight, dead;
* the net flow: the change of the backlog (waiting + in flight) per
  minute between samples: negative while workers drain the topic faster
  than producers fill it, positive while it grows.

Completions per second need the workers' own counters: see the Prometheus
exporter (``qtk_job_attempts_total``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .._job import Counts
from ._format import duration, number

__all__: list[str] = []

WIDTH = 1000
TOP = 200  # the backlog panel's height
BOTTOM = 80  # the net flow panel's height
LEFT = 76
RIGHT = 12
GAP = 40


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    waiting: int
    in_flight: int
    dead: int

    @property
    def backlog(self) -> int:
        return self.waiting + self.in_flight

    @staticmethod
    def of(at: float, counts: Counts) -> Sample:
        return Sample(at, counts.scheduled + counts.ready, counts.in_flight, counts.dead)


class Sampler:
    """The last ``keep`` samples per topic, and of the totals of full rounds."""

    def __init__(self, *, keep: int = 360, max_topics: int = 200) -> None:
        self.keep = keep
        self.max_topics = max_topics
        self._topics: dict[str, deque[Sample]] = {}
        self._totals: deque[Sample] = deque(maxlen=keep)

    def last_round(self) -> float | None:
        return self._totals[-1].at if self._totals else None

    def last(self, topic: str) -> float | None:
        series = self._topics.get(topic)
        return series[-1].at if series else None

    def add(self, topic: str, counts: Counts, at: float) -> None:
        series = self._topics.get(topic)
        if series is None:
            if len(self._topics) >= self.max_topics:
                return
            series = self._topics[topic] = deque(maxlen=self.keep)
        series.append(Sample.of(at, counts))

    def add_round(self, counts: Mapping[str, Counts], at: float) -> None:
        """Samples of every topic taken together (they also make a total)."""
        for topic, topic_counts in counts.items():
            self.add(topic, topic_counts, at)
        waiting = sum(c.scheduled + c.ready for c in counts.values())
        in_flight = sum(c.in_flight for c in counts.values())
        dead = sum(c.dead for c in counts.values())
        self._totals.append(Sample(at, waiting, in_flight, dead))

    def series(self, topic: str | None) -> list[Sample]:
        """A topic's samples, or the totals' (``None``), oldest first."""
        if topic is None:
            return list(self._totals)
        return list(self._topics.get(topic, ()))

    def net_flow(self, topic: str | None, window: float = 60.0) -> float | None:
        """The backlog's change per minute over about the last ``window``
        seconds; ``None`` without two samples at least 5 seconds apart."""
        samples = self.series(topic)
        if len(samples) < 2:
            return None
        newest = samples[-1]
        older = [s for s in samples if newest.at - s.at >= 5.0]
        if not older:
            return None
        within = [s for s in older if newest.at - s.at <= window]
        then = within[0] if within else older[-1]
        return (newest.backlog - then.backlog) * 60.0 / (newest.at - then.at)


# -- the chart ------------------------------------------------------------------


def _step(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^n at least ``value`` (and at least 1)."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def _compact(value: float) -> str:
    """``950``, ``1.5k``, ``20k``, ``3M``."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            shown = value / size
            return f"{shown:.0f}{suffix}" if shown == int(shown) else f"{shown:.1f}{suffix}"
    return number(value)


@dataclass(slots=True)
class Line:
    name: str
    css: str
    points: str
    last: int


@dataclass(slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str


@dataclass(slots=True)
class Chart:
    """Geometry of the throughput chart, for the SVG in the template."""

    width: int = WIDTH
    height: int = TOP + GAP + BOTTOM + 24
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top_y0: int = 8
    top_y1: int = TOP
    flow_y0: int = TOP + GAP
    flow_y1: int = TOP + GAP + BOTTOM
    flow_zero: float = TOP + GAP + BOTTOM / 2
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    flow_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    samples: int = 0
    span: str = ""

    @property
    def empty(self) -> bool:
        return self.samples < 2


def chart(samples: Iterable[Sample]) -> Chart:
    """Lay the samples out: backlog lines on top, net flow bars below."""
    points = list(samples)
    result = Chart(samples=len(points))
    if len(points) < 2:
        return result
    start, end = points[0].at, points[-1].at
    span = max(end - start, 1.0)
    result.span = duration(span)
    plot_w = result.right - result.left

    def x(at: float) -> float:
        return round(result.left + (at - start) / span * plot_w, 1)

    top = 4 * _step(max(max(p.waiting, p.in_flight, p.dead) for p in points) / 4)
    height = result.top_y1 - result.top_y0

    def y(value: int) -> float:
        return round(result.top_y1 - value / top * height, 1)

    result.y_ticks = [(y(round(top * i / 4)), _compact(top * i / 4)) for i in range(5)]
    for name, css, attr in (
        ("Waiting", "waiting", "waiting"),
        ("In flight", "in-flight", "in_flight"),
        ("Dead", "dead", "dead"),
    ):
        coords = " ".join(f"{x(p.at)},{y(getattr(p, attr))}" for p in points)
        result.lines.append(Line(name, css, coords, getattr(points[-1], attr)))
    for i in range(5):
        at = start + span * i / 4
        ago = end - at
        label = "now" if ago < 0.5 else f"−{duration(ago)}"
        result.x_ticks.append((x(at), label))
    flows = []
    for before, after in zip(points, points[1:], strict=False):
        elapsed = after.at - before.at
        if elapsed > 0:
            flows.append((before.at, after.at, (after.backlog - before.backlog) * 60.0 / elapsed))
    # the scale fits most bars: a rare burst (a bulk enqueue) is clipped
    # at the panel's edge rather than flattening every other bar
    sizes = sorted(abs(f) for _, _, f in flows) or [1.0]
    scale = _step(sizes[int(0.9 * (len(sizes) - 1))])
    half = (result.flow_y1 - result.flow_y0) / 2
    result.flow_ticks = [
        (result.flow_y0, f"+{_compact(scale)}/min"),
        (result.flow_zero, "0"),
        (result.flow_y1, f"−{_compact(scale)}/min"),
    ]
    for begin, finish, flow in flows:
        x0, x1 = x(begin), x(finish)
        size = round(min(abs(flow) / scale, 1.0) * half, 1)
        if size < 0.5:
            continue
        css = "grow" if flow > 0 else "drain"
        y0 = result.flow_zero - size if flow > 0 else result.flow_zero
        result.bars.append(Bar(x0, y0, max(1.0, round(x1 - x0 - 1, 1)), size, css))
    return result
