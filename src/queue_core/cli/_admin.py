"""The operator commands: topics, stats, jobs, job, enqueue, cancel, limits, dead."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import click
from rich.live import Live
from rich.table import Table

from .._errors import InvalidArgument, Unsupported
from .._job import CancelOutcome, Counts, Job, JobState
from .._limits import MAX_LIMIT, TopicLimits
from .._options import EnqueueOptions
from .._overview import counts_of, pending_cancels, per_topic
from .._service import QueueService
from ._common import Failure, StartupError, admin_service, json_option, log_options, run_async
from ._common import url_option as url
from ._render import (
    console,
    counts_dict,
    counts_table,
    describe_limits,
    emit_json,
    job_dict,
    job_table,
    jobs_table,
    limits_dict,
    now,
)

__all__ = ["cancel", "dead", "enqueue", "health", "job", "jobs", "limits", "stats", "topics"]

STATES = ("ready", "scheduled", "in_flight", "dead")


@click.command(short_help="List the topics that have jobs.")
@url
@json_option
@log_options()
def topics(url: str | None, as_json: bool, log_level: str, log_format: str) -> None:
    """List the topics that have jobs (dead-letter topics are in their topic's counts)."""

    async def main() -> list[str]:
        async with admin_service(url) as service:
            return await _topics(service)

    names = run_async(main, url)
    if as_json:
        emit_json(names)
    else:
        for name in names:
            click.echo(name)


async def _topics(service: QueueService) -> list[str]:
    try:
        return await service.topics()
    except Unsupported:
        raise StartupError(
            "this backend cannot list its topics: name them (qtk stats TOPIC...)"
        ) from None


@click.command(short_help="Jobs per state and lag, per topic.")
@click.argument("topic_names", metavar="[TOPIC]...", nargs=-1)
@url
@json_option
@click.option("--watch", is_flag=True, help="Refresh until Ctrl-C (JSON: one line per refresh).")
@click.option(
    "--interval",
    type=click.FloatRange(0.1, 3600.0),
    default=2.0,
    show_default=True,
    help="Seconds between refreshes with --watch.",
)
@log_options()
def stats(
    topic_names: tuple[str, ...],
    url: str | None,
    as_json: bool,
    watch: bool,
    interval: float,
    log_level: str,
    log_format: str,
) -> None:
    """Jobs per state and lag (the age of the oldest due job) of each TOPIC
    (default: every topic), and its limits when it has any."""

    async def sample(service: QueueService) -> _Sample:
        names = list(topic_names) or await _topics(service)
        found = _or_raise(await counts_of(service, names))
        limits: dict[str, TopicLimits] = {}
        if service.driver.capabilities.limits:
            stored = _or_raise(await per_topic(names, service.get_limits))
            limits = dict(zip(names, stored, strict=True))
        return _Sample(now(), list(zip(names, found, strict=True)), limits)

    async def main() -> None:
        async with admin_service(url) as service:
            if not watch:
                _show_counts(await sample(service), as_json, lines=False)
                return
            if as_json or not console().is_terminal:
                while True:
                    _show_counts(await sample(service), as_json, lines=True)
                    await asyncio.sleep(interval)
            out = console()
            with Live(_title_table(await sample(service)), console=out, auto_refresh=False) as live:
                while True:
                    await asyncio.sleep(interval)
                    live.update(_title_table(await sample(service)), refresh=True)

    try:
        run_async(main, url)
    except KeyboardInterrupt:
        return


T = TypeVar("T")


def _or_raise(results: dict[str, T | Exception]) -> list[T]:
    """The results of :func:`per_topic`, or the first error among them."""
    found: list[T] = []
    for result in results.values():
        if isinstance(result, Exception):
            raise result
        found.append(result)
    return found


@dataclass(frozen=True, slots=True)
class _Sample:
    at: float
    rows: list[tuple[str, Counts]]
    limits: dict[str, TopicLimits]


def _title_table(sample: _Sample) -> Table:
    stamp = dt.datetime.fromtimestamp(sample.at).strftime("%H:%M:%S")
    title = f"qtk stats at {stamp} (Ctrl-C to stop)"
    return counts_table(sample.rows, sample.at, title=title, limits=sample.limits)


def _show_counts(sample: _Sample, as_json: bool, *, lines: bool) -> None:
    at = sample.at
    if as_json:
        data = [
            counts_dict(topic, counts, at, sample.limits.get(topic))
            for topic, counts in sample.rows
        ]
        emit_json({"time": at, "topics": data} if lines else data, lines=lines)
    else:
        console().print(counts_table(sample.rows, at, limits=sample.limits))


@click.command(short_help="List the jobs of a topic in one state.")
@click.argument("topic")
@url
@click.option(
    "--state",
    type=click.Choice(STATES),
    default="ready",
    show_default=True,
    help="Which jobs: waiting (ready, scheduled), running (in_flight), or dead letters.",
)
@click.option("--limit", type=click.IntRange(0, 10_000), default=20, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True)
@json_option
@log_options()
def jobs(
    topic: str,
    url: str | None,
    state: str,
    limit: int,
    offset: int,
    as_json: bool,
    log_level: str,
    log_format: str,
) -> None:
    """List the jobs of TOPIC in one state: ready ones in claim order,
    scheduled ones by due time, in-flight ones by lease deadline."""

    async def main() -> list[dict[str, object]] | None:
        async with admin_service(url) as service:
            if state == "dead":
                found = await service.list_dead(topic, limit=limit, offset=offset)
            else:
                found = await service.list_jobs(topic, JobState(state), limit=limit, offset=offset)
            stopping = await pending_cancels(service, topic, found)
            if as_json:
                return [job_dict(j, cancel_requested=j.id in stopping) for j in found]
            total = await service.counts(topic)
            counted = {
                "ready": total.ready,
                "scheduled": total.scheduled,
                "in_flight": total.in_flight,
                "dead": total.dead,
            }[state]
            title = f"{topic}: {state} jobs {offset + 1 if found else offset}-"
            title += f"{offset + len(found)} of {counted:,}"
            console().print(jobs_table(found, now(), title=title, cancel_requested=stopping))
            return None

    listed = run_async(main, url)
    if listed is not None:
        emit_json(listed)


@click.command(short_help="Show one job.")
@click.argument("topic")
@click.argument("job_id", metavar="ID")
@url
@json_option
@click.option("--payload", "raw", is_flag=True, help="Write only the payload's bytes to stdout.")
@log_options()
def job(
    topic: str,
    job_id: str,
    url: str | None,
    as_json: bool,
    raw: bool,
    log_level: str,
    log_format: str,
) -> None:
    """Show one job of TOPIC (TOPIC:dead for a dead letter). Exit code 1 if
    there is no such job."""

    async def main() -> tuple[Job | None, bool]:
        async with admin_service(url) as service:
            found = await service.get(topic, job_id)
            stopping = await pending_cancels(service, topic, [found] if found else [])
            return found, bool(stopping)

    found, stopping = run_async(main, url)
    if found is None:
        raise Failure(f"no job {job_id!r} in topic {topic!r}")
    if raw:
        sys.stdout.buffer.write(found.payload)
        sys.stdout.flush()
    elif as_json:
        emit_json(job_dict(found, cancel_requested=stopping))
    else:
        console().print(job_table(found, now(), cancel_requested=stopping))


def _instant(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither seconds since the epoch nor an ISO 8601 time"
        ) from None
    return stamp.timestamp()


@click.command(short_help="Add a job to a topic.")
@click.argument("topic")
@click.argument("payload", required=False)
@url
@click.option("--priority", type=int, default=0, show_default=True, help="Higher runs first.")
@click.option("--delay", type=float, help="Seconds from now before the job is due.")
@click.option("--run-at", help="When the job is due: seconds since the epoch, or ISO 8601.")
@click.option("--job-id", help="An explicit id: enqueueing the same id again creates nothing.")
@click.option("--max-attempts", type=int)
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="NAME=VALUE",
    help="A header carried with the job (repeatable).",
)
@json_option
@log_options()
def enqueue(
    topic: str,
    payload: str | None,
    url: str | None,
    priority: int,
    delay: float | None,
    run_at: str | None,
    job_id: str | None,
    max_attempts: int | None,
    headers: tuple[str, ...],
    as_json: bool,
    log_level: str,
    log_format: str,
) -> None:
    """Add a job to TOPIC; print its id. PAYLOAD is the text of the payload
    (UTF-8); without it (or with -) the payload's bytes are read from stdin.
    For a task, the payload is its arguments as a JSON object."""
    if payload is None or payload == "-":
        stdin = sys.stdin.buffer
        if payload is None and stdin.isatty():
            raise click.UsageError("give a PAYLOAD, or pipe the payload on stdin")
        data = stdin.read()
    else:
        data = payload.encode("utf-8")
    header_map: dict[str, str] = {}
    for item in headers:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--header")
        header_map[name] = value
    try:
        options = EnqueueOptions(
            priority=priority,
            delay=delay or 0.0,
            run_at=None if run_at is None else _instant(run_at),
            job_id=job_id,
            max_attempts=max_attempts,
            headers=header_map or None,
        )
    except InvalidArgument as exc:
        raise click.UsageError(str(exc)) from None

    async def main() -> tuple[str, bool]:
        async with admin_service(url) as service:
            result = await service.enqueue_result(topic, data, options)
            return result.id, result.created

    new_id, created = run_async(main, url)
    if as_json:
        emit_json({"topic": topic, "id": new_id, "created": created})
        return
    click.echo(new_id)
    if not created:
        click.echo(f"a job {new_id!r} exists (or ended recently): nothing was created", err=True)


@click.command(short_help="Cancel jobs by id.")
@click.argument("topic")
@click.argument("ids", metavar="ID...", nargs=-1, required=True)
@url
@json_option
@log_options()
def cancel(
    topic: str,
    ids: tuple[str, ...],
    url: str | None,
    as_json: bool,
    log_level: str,
    log_format: str,
) -> None:
    """Cancel jobs of TOPIC: a waiting job is deleted (cancelled); a running
    one is asked to stop (cancel requested: its handler is cancelled at its
    next await, a sync one sees job.cancel_requested, and the job ends as
    cancelled, neither retried nor dead-lettered); an id with no waiting or
    running job is not found. JSON outcomes: cancelled, requested, not_found."""

    async def main() -> list[tuple[str, CancelOutcome]]:
        async with admin_service(url) as service:
            outcomes = await service.cancel(topic, list(ids))
            return list(zip(ids, outcomes, strict=True))

    results = run_async(main, url)
    if as_json:
        emit_json([{"id": i, "outcome": outcome.value} for i, outcome in results])
        return
    for job_id, outcome in results:
        click.echo(f"{job_id}\t{CANCEL_WORDS[outcome]}")
    seen = {outcome for _, outcome in results}
    if CancelOutcome.REQUESTED in seen:
        click.echo(
            "cancel requested: the job is running; its worker stops it within about a "
            "second and it ends as cancelled (qtk job shows the request meanwhile)",
            err=True,
        )
    if CancelOutcome.NOT_FOUND in seen:
        click.echo(
            "not found: no such job waiting or running in the topic (it ended, is a dead "
            f"letter: see qtk dead list {topic}, or never was)",
            err=True,
        )


CANCEL_WORDS = {
    CancelOutcome.CANCELLED: "cancelled",
    CancelOutcome.REQUESTED: "cancel requested",
    CancelOutcome.NOT_FOUND: "not found",
}


@click.command(short_help="Show or set a topic's global limits.")
@click.argument("topic")
@url
@click.option(
    "--max-in-flight",
    type=click.IntRange(0, MAX_LIMIT),
    metavar="N",
    help="At most N jobs of TOPIC in flight at once, across every worker (0: no bound).",
)
@click.option(
    "--rate",
    type=click.IntRange(0, MAX_LIMIT),
    metavar="N",
    help="At most N claims per --per seconds, across every worker (0: no rate).",
)
@click.option(
    "--per",
    type=click.FloatRange(0.001, 86_400.0),
    metavar="SECONDS",
    help="The window of --rate (default: the current one, else 1).",
)
@click.option("--clear", is_flag=True, help="Remove every limit of TOPIC.")
@json_option
@log_options()
def limits(
    topic: str,
    url: str | None,
    max_in_flight: int | None,
    rate: int | None,
    per: float | None,
    clear: bool,
    as_json: bool,
    log_level: str,
    log_format: str,
) -> None:
    """Show TOPIC's limits, or change them: the options given replace
    those fields and keep the others (0 removes a bound; --clear removes
    all). The backend enforces them inside every claim, across every
    worker of every process; they hold until changed."""
    changes = max_in_flight is not None or rate is not None or per is not None
    if clear and changes:
        raise click.UsageError("give --clear or new limits, not both")

    async def main() -> tuple[TopicLimits, bool]:
        async with admin_service(url) as service:
            current = await service.get_limits(topic)
            if not clear and not changes:
                return current, False
            if clear:
                chosen = TopicLimits()
            else:
                chosen = TopicLimits(
                    max_in_flight=(
                        current.max_in_flight if max_in_flight is None else max_in_flight or None
                    ),
                    rate=current.rate if rate is None else rate or None,
                    per=current.per if per is None else per,
                )
            await service.set_limits(topic, chosen)
            return chosen, True

    chosen, changed = run_async(main, url)
    if as_json:
        data = limits_dict(chosen) or {"max_in_flight": None, "rate": None, "per": chosen.per}
        emit_json({"topic": topic, **data, "changed": changed})
        return
    shown = describe_limits(chosen)
    shown = "no limits" if shown == "-" else f"at most {shown}"
    click.echo(f"{topic}: {shown}{' (set)' if changed else ''}")


@click.group(short_help="Dead letters: list, redrive, purge.")
def dead() -> None:
    """Dead letters: list, redrive (back to their topic) or purge them."""


@dead.command("list")
@click.argument("topic")
@url
@click.option("--limit", type=click.IntRange(0, 10_000), default=20, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True)
@json_option
@log_options()
def dead_list(
    topic: str,
    url: str | None,
    limit: int,
    offset: int,
    as_json: bool,
    log_level: str,
    log_format: str,
) -> None:
    """List the dead letters of TOPIC (their last error says why)."""

    async def main() -> tuple[list[dict[str, object]], object]:
        async with admin_service(url) as service:
            found = await service.list_dead(topic, limit=limit, offset=offset)
            if as_json:
                return [job_dict(j) for j in found], None
            counts = await service.counts(topic)
            title = f"{topic}: dead letters {offset + 1 if found else offset}-"
            title += f"{offset + len(found)} of {counts.dead:,}"
            return [], jobs_table(found, now(), title=title)

    listed, table = run_async(main, url)
    if as_json:
        emit_json(listed)
    else:
        console().print(table)


def _ids_or_all(ids: Sequence[str], every: bool, verb: str) -> list[str] | None:
    if ids and every:
        raise click.UsageError("give job ids or --all, not both")
    if not ids and not every:
        raise click.UsageError(f"give the ids of the dead letters to {verb}, or --all")
    return list(ids) if ids else None


@dead.command("redrive")
@click.argument("topic")
@click.argument("ids", metavar="[ID]...", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every dead letter of TOPIC.")
@url
@json_option
@log_options()
def dead_redrive(
    topic: str,
    ids: tuple[str, ...],
    every: bool,
    url: str | None,
    as_json: bool,
    log_level: str,
    log_format: str,
) -> None:
    """Move dead letters back to TOPIC with fresh attempts."""
    _dead_action(
        topic,
        _ids_or_all(ids, every, "redrive"),
        url,
        as_json,
        act=QueueService.redrive,
        key="redriven",
        done="{count} dead letter(s) moved back to {topic}",
    )


@dead.command("purge")
@click.argument("topic")
@click.argument("ids", metavar="[ID]...", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every dead letter of TOPIC.")
@url
@json_option
@log_options()
def dead_purge(
    topic: str,
    ids: tuple[str, ...],
    every: bool,
    url: str | None,
    as_json: bool,
    log_level: str,
    log_format: str,
) -> None:
    """Delete dead letters of TOPIC for good."""
    _dead_action(
        topic,
        _ids_or_all(ids, every, "purge"),
        url,
        as_json,
        act=QueueService.purge_dead,
        key="purged",
        done="{count} dead letter(s) of {topic} deleted",
    )


def _dead_action(
    topic: str,
    chosen: list[str] | None,
    url: str | None,
    as_json: bool,
    *,
    act: Callable[[QueueService, str, list[str] | None], Awaitable[int]],
    key: str,
    done: str,
) -> None:
    """Run a dead-letter action (``act(service, topic, ids)``) and report
    how many it moved or deleted."""

    async def main() -> int:
        async with admin_service(url) as service:
            return await act(service, topic, chosen)

    count = run_async(main, url)
    if as_json:
        emit_json({"topic": topic, key: count})
    else:
        click.echo(done.format(count=count, topic=topic))


@click.command(short_help="Liveness probe for a worker's --health-file.")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option(
    "--max-age",
    type=click.FloatRange(0.0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds since the worker last touched PATH.",
)
def health(path: str, max_age: float) -> None:
    """Exit 0 if a worker started with --health-file PATH touched it within
    --max-age seconds, else 1 (a liveness probe)."""
    try:
        age = time.time() - os.stat(path).st_mtime
    except OSError as exc:
        raise Failure(f"no heartbeat: {exc.strerror or exc}: {path}") from None
    if age > max_age:
        raise Failure(f"stale heartbeat: {path} was last touched {age:.1f} s ago")
    click.echo(f"ok: {path} touched {age:.1f} s ago")
