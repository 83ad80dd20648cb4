"""Formatting helpers the templates use (plain strings; the templates escape)."""

from __future__ import annotations

import datetime as dt
import math
from urllib.parse import quote, urlencode

__all__: list[str] = []


def instant(seconds: float | None) -> str:
    """An instant as ``2025-01-31 12:34:56 UTC``."""
    if seconds is None:
        return "—"
    try:
        moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return f"{seconds:.3f}"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float | None) -> str:
    """A duration in the largest sensible unit: ``850 ms``, ``42 s``,
    ``3 min 5 s``, ``2 h 10 min``, ``3 d 4 h``."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    seconds = abs(seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def relative(seconds: float | None, now: float) -> str:
    """``3 min ago`` / ``in 5 s`` / ``now``."""
    if seconds is None:
        return "—"
    delta = seconds - now
    if abs(delta) < 0.5:
        return "now"
    return f"in {duration(delta)}" if delta > 0 else f"{duration(delta)} ago"


def number(value: int | float) -> str:
    return f"{value:,.0f}" if isinstance(value, int) or value.is_integer() else f"{value:,.1f}"


def rate(per_minute: float | None) -> str:
    """A signed rate per minute: ``+12/min``, ``−340/min``, ``0/min``."""
    if per_minute is None:
        return "—"
    if abs(per_minute) < 0.05:
        return "0/min"
    sign = "+" if per_minute > 0 else "\N{MINUS SIGN}"
    magnitude = abs(per_minute)
    shown = f"{magnitude:,.0f}" if magnitude >= 10 else f"{magnitude:.1f}"
    return f"{sign}{shown}/min"


def path_part(value: str) -> str:
    """``value`` quoted as one URL path segment."""
    return quote(value, safe="")


def with_query(path: str, **params: object) -> str:
    """``path`` with the given query parameters (``None`` ones left out)."""
    kept = {name: str(value) for name, value in params.items() if value is not None}
    return f"{path}?{urlencode(kept)}" if kept else path
