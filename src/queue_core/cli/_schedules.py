"""``qtk scheduler`` (run a registry's schedules alone) and ``qtk
schedules`` (list them with their next run)."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from .._tasks import Task, Tasks
from ._common import (
    EXIT_FAILURE,
    StartupError,
    app_dir_option,
    health_file_option,
    json_option,
    log_options,
    url_option,
)
from ._load import load_target
from ._render import ago, console, emit_json, iso, now
from ._worker import WorkerPlan, WorkerSettings, run_worker, scheduler_companion

if TYPE_CHECKING:
    from ..schedules import Schedule

__all__ = ["registry_of", "schedule_dict", "scheduler", "schedules"]


def registry_of(target: str, value: object) -> Tasks:
    """The :class:`~queue_core.Tasks` registry ``value`` is (or a task's)."""
    if isinstance(value, Task):
        return value.registry
    if isinstance(value, Tasks):
        return value
    raise StartupError(f"{target} is a {type(value).__name__}: give a Tasks registry (or a task)")


def _with_schedules(target: str, app_dir: str) -> Tasks:
    registry = registry_of(target, load_target(target, app_dir))
    if not registry.schedules:
        raise StartupError(
            f"{target}: the registry declares no schedule (tasks.schedule(...) or "
            "@tasks.task(schedule=...))"
        )
    return registry


def schedule_dict(schedule: Schedule, at: float) -> dict[str, Any]:
    """A schedule for ``--json`` output, with its previous and next tick
    around ``at`` (seconds since the epoch)."""
    from ..schedules import Cron

    trigger = schedule.trigger
    if isinstance(trigger, Cron):
        when: dict[str, Any] = {"kind": "cron", "expression": trigger.expression, "tz": trigger.tz}
    else:
        when = {"kind": "every", "seconds": trigger.seconds, "offset": trigger.offset}
    upcoming = trigger.next_after(at)
    return {
        "name": schedule.name,
        "topic": schedule.topic,
        "task": schedule.task,
        "trigger": when,
        "description": schedule.describe(),
        "catch_up": trigger.catch_up,
        "policy": trigger.policy,
        "grace": trigger.effective_grace,
        "previous": trigger.latest_at(at),
        "next": upcoming,
        "next_job_id": None if upcoming is None else schedule.job_id(upcoming),
    }


@click.command(short_help="List the schedules of TARGET with their next run.")
@click.argument("target")
@app_dir_option()
@json_option
@log_options()
def schedules(target: str, app_dir: str, as_json: bool, log_level: str, log_format: str) -> None:
    """List the schedules TARGET (module:attribute, a Tasks registry)
    declares: what each enqueues, when, its catch-up policy, its previous
    and next tick. Reads no queue."""
    registry = _with_schedules(target, app_dir)
    at = now()
    rows = [schedule_dict(schedule, at) for schedule in registry.schedules]
    if as_json:
        emit_json(rows)
        return
    table = Table(title=f"{target}: {len(rows)} schedule(s)", title_justify="left")
    for name in ("schedule", "topic", "task", "when", "missed ticks", "previous tick", "next run"):
        table.add_column(name, no_wrap=name not in ("when", "missed ticks"))
    for row in rows:
        previous, upcoming = row["previous"], row["next"]
        table.add_row(
            row["name"],
            row["topic"],
            row["task"] or "-",
            row["description"],
            row["policy"],
            "-" if previous is None else f"{iso(previous)} ({ago(at - previous)} ago)",
            "never" if upcoming is None else f"{iso(upcoming)} (in {ago(upcoming - at)})",
        )
    console().print(table)


@click.command(short_help="Run the schedules of TARGET (no handlers) until SIGTERM.")
@click.argument("target")
@url_option
@app_dir_option()
@health_file_option("scheduler")
@log_options("info")
def scheduler(
    target: str,
    url: str | None,
    app_dir: str,
    health_file: Path | None,
    log_level: str,
    log_format: str,
) -> None:
    """Enqueue the jobs of the schedules TARGET declares (a Tasks registry,
    module:attribute) until SIGTERM or SIGINT, without running handlers.
    Any number of schedulers (and workers, which run the schedules too) may
    run: each tick is enqueued once. Exit codes as for `qtk worker`."""
    registry = _with_schedules(target, app_dir)
    plan = WorkerPlan(
        target=target,
        subscriptions=[],
        companions=[scheduler_companion(registry.schedules)],
        schedules=registry.schedules,
    )
    settings = WorkerSettings(url=url, health_file=health_file)
    try:
        code = asyncio.run(run_worker(plan, settings))
    except click.ClickException:
        raise
    except Exception:
        logging.getLogger("queue_core.cli").exception("the scheduler failed")
        code = EXIT_FAILURE
    sys.exit(code)
