"""Output of the operator commands: rich tables for people, JSON for scripts."""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .._job import Counts, Job
from .._limits import TopicLimits

__all__ = [
    "ago",
    "console",
    "counts_dict",
    "counts_table",
    "describe_limits",
    "emit_json",
    "iso",
    "job_dict",
    "job_table",
    "jobs_table",
    "limits_dict",
    "payload_preview",
]

PREVIEW_CHARS = 2000
ERROR_CHARS = 60


def console() -> Console:
    """A console on stdout that never reads markup in data (ids, payloads,
    errors); wide when it is not a terminal (pipes, files)."""
    settings: dict[str, Any] = {"highlight": False, "markup": False, "emoji": False}
    out = Console(soft_wrap=False, **settings)
    if not out.is_terminal:
        out = Console(soft_wrap=False, width=200, **settings)
    return out


def emit_json(value: Any, *, lines: bool = False) -> None:
    """Print ``value`` as JSON (indented, or one line with ``lines``)."""
    text = json.dumps(value, ensure_ascii=False, indent=None if lines else 2)
    click.echo(text)
    if lines:
        sys.stdout.flush()


def _iso(instant: float | None) -> str | None:
    if instant is None:
        return None
    stamp = dt.datetime.fromtimestamp(instant, dt.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso(instant: float) -> str:
    """An instant as ISO 8601 in UTC, to the second (milliseconds when it
    has any): ``2025-01-31T03:00:00Z``."""
    stamp = dt.datetime.fromtimestamp(round(instant, 3), dt.UTC)
    spec = "milliseconds" if stamp.microsecond else "seconds"
    return stamp.isoformat(timespec=spec).replace("+00:00", "Z")


def ago(seconds: float) -> str:
    """A duration for people: ``850ms``, ``42s``, ``5m 3s``, ``2h 1m``, ``3d 4h``."""
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def _relative(instant: float | None, now: float) -> str:
    if instant is None:
        return "-"
    delta = instant - now
    return f"in {ago(delta)}" if delta > 0.0005 else f"{ago(-delta)} ago"


def payload_preview(payload: bytes) -> tuple[str, str]:
    """The payload as text (``"utf-8"``) when it is printable UTF-8, else
    as base64 (``"base64"``)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(payload).decode("ascii"), "base64"
    if all(ch.isprintable() or ch in "\n\r\t" for ch in text):
        return text, "utf-8"
    return base64.b64encode(payload).decode("ascii"), "base64"


def describe_limits(limits: TopicLimits | None) -> str:
    """``5 in flight, 100 per 1s``; ``-`` without limits."""
    if limits is None or limits.unlimited:
        return "-"
    return limits.describe()


def limits_dict(limits: TopicLimits | None) -> dict[str, Any] | None:
    """A topic's limits for ``--json`` output (``None``: no limits)."""
    if limits is None or limits.unlimited:
        return None
    return {"max_in_flight": limits.max_in_flight, "rate": limits.rate, "per": limits.per}


def job_dict(job: Job, *, cancel_requested: bool = False) -> dict[str, Any]:
    """A job for ``--json`` output (times in seconds since the epoch)."""
    payload, encoding = payload_preview(job.payload)
    return {
        "id": job.id,
        "topic": job.topic,
        "state": job.state.value,
        "priority": job.priority,
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "enqueued_at": job.enqueued_at,
        "run_at": job.run_at,
        "lease_deadline": job.lease_deadline,
        "fencing_token": job.fencing_token,
        "last_error": job.last_error,
        "cancel_requested": cancel_requested,
        "headers": dict(job.headers),
        "payload_size": len(job.payload),
        "payload_encoding": encoding,
        "payload": payload,
    }


def counts_dict(
    topic: str, counts: Counts, now: float, limits: TopicLimits | None = None
) -> dict[str, Any]:
    lag = counts.lag(now)
    return {
        "topic": topic,
        "scheduled": counts.scheduled,
        "ready": counts.ready,
        "in_flight": counts.in_flight,
        "dead": counts.dead,
        "oldest_due_at": counts.oldest_due_at,
        "lag": lag,
        "limits": limits_dict(limits),
    }


def counts_table(
    rows: Sequence[tuple[str, Counts]],
    now: float,
    *,
    title: str = "",
    limits: Mapping[str, TopicLimits] | None = None,
) -> Table:
    """Counts per topic; a ``limits`` column when a topic has limits."""
    limited = {t: v for t, v in (limits or {}).items() if not v.unlimited}
    table = Table(title=title or None, title_justify="left")
    table.add_column("topic", no_wrap=True)
    for name in ("scheduled", "ready", "in flight", "dead"):
        table.add_column(name, justify="right")
    table.add_column("lag (oldest due)", justify="right")
    if limited:
        table.add_column("limits", no_wrap=True)
    for topic, counts in rows:
        lag = "-" if (seconds := counts.lag(now)) is None else ago(seconds)
        dead = Text(f"{counts.dead:,}", style="bold red" if counts.dead else "")
        cells: list[str | Text] = [
            topic,
            f"{counts.scheduled:,}",
            f"{counts.ready:,}",
            f"{counts.in_flight:,}",
            dead,
            lag,
        ]
        if limited:
            cells.append(describe_limits(limited.get(topic)))
        table.add_row(*cells)
    return table


def _short(text: str | None, limit: int) -> str:
    if not text:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def jobs_table(
    jobs: Sequence[Job],
    now: float,
    *,
    title: str = "",
    cancel_requested: Collection[str] = (),
) -> Table:
    """Jobs, one a row; those in ``cancel_requested`` are marked."""
    table = Table(title=title or None, title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("priority", justify="right")
    table.add_column("attempt", justify="right")
    table.add_column("enqueued", justify="right")
    table.add_column("due", justify="right")
    table.add_column("lease", justify="right")
    table.add_column("last error")
    for job in jobs:
        lease = "-" if job.lease_deadline is None else _relative(job.lease_deadline, now)
        shown_id = f"{job.id} (cancel requested)" if job.id in cancel_requested else job.id
        table.add_row(
            shown_id,
            str(job.priority),
            f"{job.attempt}/{job.max_attempts}",
            _relative(job.enqueued_at, now),
            _relative(job.run_at, now),
            lease,
            _short(job.last_error, ERROR_CHARS),
        )
    return table


def job_table(job: Job, now: float, *, cancel_requested: bool = False) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")

    def when(instant: float | None) -> str:
        return "-" if instant is None else f"{_iso(instant)} ({_relative(instant, now)})"

    table.add_row("topic", job.topic)
    table.add_row("id", job.id)
    state = job.state.value
    if cancel_requested:
        state += " (cancel requested: its worker is stopping it)"
    table.add_row("state", state)
    table.add_row("priority", str(job.priority))
    table.add_row("attempt", f"{job.attempt} of {job.max_attempts}")
    table.add_row("enqueued", when(job.enqueued_at))
    table.add_row("due", when(job.run_at))
    table.add_row("lease until", when(job.lease_deadline))
    table.add_row("fencing token", str(job.fencing_token))
    table.add_row("last error", job.last_error or "-")
    headers = "\n".join(f"{name}: {value}" for name, value in sorted(job.headers.items()))
    table.add_row("headers", headers or "-")
    text, encoding = payload_preview(job.payload)
    size = f"{len(job.payload):,} bytes"
    if encoding == "base64":
        table.add_row("payload", f"({size}, binary: hex) {job.payload[:256].hex(' ')}")
    else:
        shown = text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"
        table.add_row("payload", Text(f"({size}) {shown}"))
    return table


def now() -> float:
    return time.time()
