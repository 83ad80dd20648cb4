"""``qtk schedules``, ``qtk scheduler``, the scheduler inside ``qtk worker``,
``qtk limits`` and the cancel-request views of ``qtk cancel``/``job``/``jobs``:
in process on the in-memory backend (click's runner), and as subprocesses
against a real redis-server started by the tests."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from queue_core import EnqueueOptions, QueueService, SyncQueueService, Tasks, TopicLimits
from queue_core.cli import main
from queue_core.cli._worker import _child_args, build_plan
from queue_core.schedules import Scheduler, every
from queue_memory import MemoryDriver

SCHEDULED_APP = """
import os
from queue_core import Job, Tasks
from queue_core.schedules import cron, every

OUT = os.environ.get("QTK_TEST_OUT", ".")
tasks = Tasks()


@tasks.task(topic="beats", schedule=every({seconds}))
async def beat(job: Job) -> None:
    with open(os.path.join(OUT, "beats"), "a") as out:  # one short append: atomic
        out.write(job.id + " " + str(os.getpid()) + "\\n")


@tasks.task(topic="reports")
async def report(to: str) -> None:
    pass


tasks.schedule("nightly", cron("0 3 * * *", tz="Europe/Paris"), report.call(to="ops@example.com"))
"""

PLAIN_APP = """
from queue_core import Tasks
tasks = Tasks()

@tasks.task
async def nothing() -> None: ...
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def write_app(tmp_path: Path, source: str) -> str:
    name = f"sched_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(source)
    return name


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


# -- in process -----------------------------------------------------------------------------


def test_the_new_commands_have_help() -> None:
    listing = run("--help").output
    for name in ("scheduler", "schedules", "limits"):
        assert name in listing
        assert run(name, "--help").exit_code == 0
    assert "--no-scheduler" in run("worker", "--help").output
    assert "--app" in run("dashboard", "--help").output


def test_schedules_lists_the_registry_s_schedules_with_their_next_run(tmp_path: Path) -> None:
    name = write_app(tmp_path, SCHEDULED_APP.format(seconds=3600))
    listed = run("schedules", f"{name}:tasks", "--app-dir", str(tmp_path), "--json")
    assert listed.exit_code == 0, listed.output
    rows = {row["name"]: row for row in json.loads(listed.output)}
    assert set(rows) == {"beat", "nightly"}
    beat, nightly = rows["beat"], rows["nightly"]
    assert (beat["topic"], beat["task"], beat["catch_up"]) == ("beats", "beat", "latest")
    assert beat["trigger"] == {"kind": "every", "seconds": 3600.0, "offset": 0.0}
    assert beat["next"] % 3600 == 0
    assert beat["next"] - beat["previous"] == 3600
    assert beat["next_job_id"].startswith("sched:beat:")
    assert nightly["trigger"] == {"kind": "cron", "expression": "0 3 * * *", "tz": "Europe/Paris"}
    assert nightly["description"] == "cron 0 3 * * * (Europe/Paris)"
    assert 0 < nightly["next"] - time.time() <= 25 * 3600
    table = run("schedules", f"{name}:beat", "--app-dir", str(tmp_path))  # a task works too
    assert table.exit_code == 0
    for text in ("beat", "nightly", "every 1 h", "cron 0 3 * * * (Europe/Paris)", "latest"):
        assert text in table.output


def test_a_registry_without_schedules_is_one_clear_line(tmp_path: Path) -> None:
    name = write_app(tmp_path, PLAIN_APP)
    for command in ("schedules", "scheduler"):
        args = [command, f"{name}:tasks", "--app-dir", str(tmp_path)]
        if command == "scheduler":
            args += ["--url", "memory://"]
        result = run(*args)
        assert result.exit_code == 2
        assert "declares no schedule" in result.output
    handler = run("schedules", f"{name}:tasks.topics", "--app-dir", str(tmp_path))
    assert handler.exit_code == 2
    assert "give a Tasks registry" in handler.output


def test_build_plan_runs_the_registry_s_schedules_beside_the_consumers() -> None:
    tasks = Tasks()

    @tasks.task(topic="a", schedule=every(60))
    async def tick() -> None: ...

    @tasks.task(topic="b")
    async def other() -> None: ...

    plan = build_plan("app:tasks", tasks)
    assert [s.name for s in plan.schedules] == ["tick"]
    assert len(plan.companions) == 1
    only_b = build_plan("app:tasks", tasks, topics=["b"])  # every schedule, whatever the topics
    assert [s.name for s in only_b.schedules] == ["tick"]
    assert build_plan("app:tasks", tasks, scheduler=False).companions == []
    assert build_plan("app:other", other).schedules == (tasks.schedules[0],)
    plain = Tasks()

    @plain.task
    async def nothing() -> None: ...

    assert build_plan("app:plain", plain).companions == []

    service = QueueService(MemoryDriver())
    assert isinstance(plan.companions[0](service), Scheduler)


def test_supervised_workers_inherit_no_scheduler() -> None:
    common: dict[str, Any] = {
        "target": "app:tasks",
        "topics": (),
        "concurrency": None,
        "burst": False,
        "grace": None,
        "app_dir": ".",
        "metrics_host": "127.0.0.1",
        "log_level": "info",
        "log_format": "text",
    }
    assert "--no-scheduler" in _child_args(**common, no_scheduler=True)
    assert "--no-scheduler" not in _child_args(**common)


def test_a_burst_worker_on_memory_runs_the_tick_due_at_its_start(tmp_path: Path) -> None:
    name = write_app(tmp_path, SCHEDULED_APP.format(seconds=3600))
    env = {"QTK_TEST_OUT": str(tmp_path)}
    before = time.time()
    result = CliRunner(env=env).invoke(
        main,
        ["worker", f"{name}:tasks", "--url", "memory://", "--burst", "--app-dir", str(tmp_path)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    beats = (tmp_path / "beats").read_text().split()[::2]
    # the latest missed hour (catch_up="latest"), and the current one if it began within a minute
    assert 1 <= len(beats) <= 2
    hours = {int(at // 3600) * 3600 for at in (before, time.time())}
    latest = {f"sched:beat:{time.strftime('%Y%m%dT%H0000Z', time.gmtime(h))}" for h in hours}
    assert latest & set(beats)


# -- against Redis --------------------------------------------------------------------------


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def until(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


@dataclass
class Env:
    url: str
    dir: Path
    env: dict[str, str]
    queue: SyncQueueService

    def qtk(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "queue_core", *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.dir,
            timeout=60,
            check=False,
        )

    def ok(self, *args: str) -> str:
        done = self.qtk(*args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "queue_core", *args, "--log-format", "json"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=self.dir,
        )


@pytest.fixture
def redis_env(redis_url: str, tmp_path: Path) -> Iterator[Env]:
    url = f"{redis_url}?prefix=qtks{uuid.uuid4().hex[:10]}"
    env = dict(os.environ, QUEUE_URL=url, QTK_TEST_OUT=str(tmp_path), PYTHONDONTWRITEBYTECODE="1")
    with SyncQueueService(url) as queue:
        yield Env(url, tmp_path, env, queue)


@pytest.mark.redis
def test_a_scheduler_and_a_worker_enqueue_each_tick_once(redis_env: Env) -> None:
    """Two schedulers (``qtk scheduler`` and the one inside ``qtk worker``)
    on an every-second schedule: every tick runs once; SIGTERM stops both
    cleanly."""
    name = write_app(redis_env.dir, SCHEDULED_APP.format(seconds=1))
    target = f"{name}:tasks"
    processes = [redis_env.start("scheduler", target), redis_env.start("worker", target)]
    beats = redis_env.dir / "beats"
    try:
        until(lambda: len(lines(beats)) >= 5)
        for process in processes:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(30) for process in processes]
        logs = [process.communicate(timeout=10)[1] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(10)
    assert codes == [0, 0], logs
    ids = [line.split()[0] for line in lines(beats)]
    assert len(ids) == len(set(ids)), ids  # no tick ran twice
    assert all(i.startswith("sched:beat:") for i in ids)
    messages = [json.loads(line)["message"] for log in logs for line in log.splitlines()]
    assert any(m.startswith("scheduler ") and "schedules beat, nightly" in m for m in messages)
    assert any("schedules beat, nightly" in m and m.startswith("worker ") for m in messages)
    enqueued = [m for m in messages if m.startswith("schedule beat: enqueued sched:beat:")]
    assert len(enqueued) == len({m.split()[3] for m in enqueued})  # each tick created once
    assert any(m.startswith("scheduler stopped:") for m in messages)


@pytest.mark.redis
def test_limits_show_set_and_clear(redis_env: Env) -> None:
    redis_env.queue.enqueue("emails", b"x")
    assert redis_env.ok("limits", "emails") == "emails: no limits\n"
    assert json.loads(redis_env.ok("limits", "emails", "--max-in-flight", "3", "--json")) == {
        "topic": "emails",
        "max_in_flight": 3,
        "rate": None,
        "per": 1.0,
        "changed": True,
    }
    both = redis_env.ok("limits", "emails", "--rate", "10", "--per", "2")
    assert both == "emails: at most 3 in flight, 10 per 2s (set)\n"
    assert redis_env.queue.get_limits("emails") == TopicLimits(max_in_flight=3, rate=10, per=2.0)
    table = redis_env.ok("stats")
    row = next(line for line in table.splitlines() if " emails " in line)
    assert "3 in flight, 10 per 2s" in row
    stats = json.loads(redis_env.ok("stats", "--json"))
    assert stats[0]["limits"] == {"max_in_flight": 3, "rate": 10, "per": 2.0}
    redis_env.ok("limits", "emails", "--max-in-flight", "0")  # 0 removes one bound
    assert redis_env.queue.get_limits("emails") == TopicLimits(rate=10, per=2.0)
    assert redis_env.ok("limits", "emails", "--clear") == "emails: no limits (set)\n"
    assert redis_env.queue.get_limits("emails").unlimited
    assert "limits" not in redis_env.ok("stats")  # the column shows only when a topic has some
    assert json.loads(redis_env.ok("stats", "--json"))[0]["limits"] is None
    both_ways = redis_env.qtk("limits", "emails", "--clear", "--rate", "5")
    assert both_ways.returncode == 2
    assert "not both" in both_ways.stderr
    too_many = redis_env.qtk("limits", "emails", "--rate", "1000000")
    assert too_many.returncode == 2


@pytest.mark.redis
def test_cancel_says_what_happened_and_job_views_show_pending_requests(redis_env: Env) -> None:
    queue = redis_env.queue
    queue.enqueue("emails", b"running", EnqueueOptions(job_id="run", priority=10))

    async def claim(service: QueueService) -> None:
        (job,) = await service.driver.claim("emails", max_jobs=1, lease=600)
        assert job.id == "run"

    queue.run(claim)
    queue.enqueue("emails", b"waiting", EnqueueOptions(job_id="wait"))
    done = redis_env.qtk("cancel", "emails", "wait", "run", "gone")
    assert done.returncode == 0
    assert done.stdout.splitlines() == [
        "wait\tcancelled",
        "run\tcancel requested",
        "gone\tnot found",
    ]
    assert "its worker stops it" in done.stderr
    assert "qtk dead list emails" in done.stderr
    assert "cancel requested" in redis_env.ok("job", "emails", "run")
    assert json.loads(redis_env.ok("job", "emails", "run", "--json"))["cancel_requested"] is True
    listed = redis_env.ok("jobs", "emails", "--state", "in_flight")
    assert "run (cancel requested)" in listed
    (running,) = json.loads(redis_env.ok("jobs", "emails", "--state", "in_flight", "--json"))
    assert running["cancel_requested"] is True
