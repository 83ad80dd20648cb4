"""The examples of schedules and flow control (``examples/schedules_app.py``,
``examples/flow_control.py``) run as written, and what they show holds;
the outcomes they produce reach hooks and Prometheus metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from examples import flow_control, schedules_app
from queue_core import FakeClock, QueueService, Tasks
from queue_core.cli import main as qtk
from queue_core.metrics import PrometheusHooks
from queue_core.schedules import Scheduler, cron
from queue_memory import MemoryDriver
from tests.fakes import async_test

ROOT = Path(__file__).resolve().parent.parent


@async_test
async def test_time_limits_fail_a_hanging_async_handler_and_a_sleeping_sync_one() -> None:
    registry = CollectorRegistry()
    report = await flow_control.time_limits(hooks=[PrometheusHooks(registry=registry)])
    assert report.outcomes == {
        "async-work:retried": 1,
        "async-work:dead_lettered": 1,
        "sync-work:retried": 1,
        "sync-work:dead_lettered": 1,
    }
    assert sorted(report.dead_letters) == ["hangs", "sleeps"]
    assert len(report.errors) == 4
    assert all("ran longer than its time limit of 0.2s" in e for e in report.errors)
    for topic in ("async-work", "sync-work"):
        labels = {"topic": topic, "outcome": "retried"}
        assert registry.get_sample_value("qtk_job_attempts_total", labels) == 1.0


@async_test
async def test_global_limits_hold_across_consumers() -> None:
    bounded, rated = await flow_control.global_limits()
    assert bounded.handled == 12
    assert bounded.most_in_flight == 2  # reached, never passed, with 15 handlers free
    assert rated.handled == 15


@async_test
async def test_cancellation_ends_jobs_as_cancelled_and_metrics_count_it() -> None:
    registry = CollectorRegistry()
    report = await flow_control.cancellation(hooks=[PrometheusHooks(registry=registry)])
    assert report.requests == {
        "crawl-1": "requested",  # running: its handler is cancelled at its next await
        "crawl-2": "cancelled",  # waiting: deleted at once
        "no-such-job": "not_found",
        "export-1": "requested",  # a sync handler: it sees job.cancel_requested
    }
    assert report.outcomes == {"crawls:cancelled": 1, "exports:cancelled": 1}
    assert report.sync_saw_the_request
    assert report.left == 0  # neither retried nor dead-lettered
    for topic in ("crawls", "exports"):
        labels = {"topic": topic, "outcome": "cancelled"}
        assert registry.get_sample_value("qtk_job_attempts_total", labels) == 1.0
        retried = {"topic": topic, "outcome": "retried"}
        assert registry.get_sample_value("qtk_job_attempts_total", retried) == 0.0


def test_the_flow_control_tour_prints_its_summary(capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    asyncio.run(flow_control.main())
    out = capsys.readouterr().out
    assert "max_in_flight=2: 12 jobs, at most 2 at once" in out
    assert "cancel crawl-2: cancelled" in out
    assert "jobs left: 0" in out


@async_test
async def test_the_simulated_week_of_schedules() -> None:
    week = await schedules_app.simulate_week()
    # every 15 minutes for a week (672), the tick at the start, and the one caught up
    assert week.runs["purge_sessions"] == 7 * 24 * 4 + 2
    assert week.nightly_local_times == [
        "Sun 23 Mar 03:00 CET",  # caught up at the start (catch_up="latest")
        "Mon 24 Mar 03:00 CET",
        "Tue 25 Mar 03:00 CET",
        "Wed 26 Mar 03:00 CET",
        "Thu 27 Mar 03:00 CET",
        "Fri 28 Mar 03:00 CET",
        "Sat 29 Mar 03:00 CET",
        "Sun 30 Mar 03:00 CEST",  # the night clocks went forward: still 03:00 in Paris
    ]
    assert week.weekly_local_times == ["Mon 24 Mar 08:30 CET"]  # catch_up="none": no Monday 0
    assert len(week.caught_up_at_start) == 2
    # the second scheduler found every tick enqueued by the first, or the other way round
    assert week.duplicates == sum(week.runs.values())


def test_qtk_lists_the_example_s_schedules() -> None:
    result = CliRunner().invoke(
        qtk,
        ["schedules", "examples.schedules_app:tasks", "--app-dir", str(ROOT), "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["name"] for row in rows] == ["purge_sessions", "nightly-report", "weekly-report"]
    assert rows[2]["catch_up"] == "none"


# -- the example of docs/schedules.md, as written ------------------------------------------------

docs_tasks = Tasks()


@docs_tasks.task(topic="reports", schedule=cron("0 3 * * *", tz="Europe/Paris", catch_up="none"))
async def nightly_report() -> None: ...


@async_test
async def test_the_report_is_enqueued_at_3_in_paris() -> None:
    clock = FakeClock(1_735_689_600.0)  # 2025-01-01T00:00:00Z, 01:00 in Paris
    service = QueueService(MemoryDriver(clock=clock))
    async with Scheduler(service, docs_tasks.schedules, clock=clock) as scheduler:
        clock.advance(2 * 3600)  # 02:00 UTC: 03:00 in Paris
        await scheduler.wait_idle()
    job = await service.get("reports", "sched:nightly_report:20250101T020000Z")
    assert job is not None
    assert (await service.counts("reports")).total == 1
    await service.close()
