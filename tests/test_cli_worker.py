"""``qtk worker`` as a user runs it: a subprocess (``python -m queue_core``,
the same entry as the ``qtk`` script) against a real redis-server started by
the tests, on a key prefix of its own per test. Signals, the supervisor,
burst mode and one-line startup failures."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from queue_core import EnqueueOptions, JobState, SyncQueueService
from tests.redis_support import free_port

pytestmark = pytest.mark.redis

APP = """
import asyncio
import os
from pathlib import Path

from queue_core import Job, Tasks, current_job

OUT = Path(os.environ["QTK_TEST_OUT"])
tasks = Tasks()


def note(name: str, text: str = "") -> None:
    with open(OUT / name, "a") as out:  # one short append per call: atomic
        out.write(text + "\\n")


@tasks.on_startup
async def started() -> None:
    note("startup", str(os.getpid()))


@tasks.on_shutdown
def stopped() -> None:
    note("shutdown", str(os.getpid()))


@tasks.task(topic="work")
async def record(n: int) -> None:
    note("done", f"{n} {os.getpid()}")


@tasks.task(topic="slow")
async def nap(job: Job, seconds: float) -> None:
    note("started", job.id)
    await asyncio.sleep(seconds)
    note("finished", current_job().id)


def handle(job: Job) -> None:
    note("plain", job.payload.decode())
"""

BROKEN_APP = "raise RuntimeError('the config file is missing')\n"


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def until(check: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Running:
    """A ``qtk`` process of ours, its JSON log lines collected by a thread."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "queue_core", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
        self.logs: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.children: set[int] = set()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._lock:
                self.raw.append(line)
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                self.logs.append(record)
                if record["message"].startswith("started worker process"):
                    self.children.add(int(record["message"].rsplit("pid ", 1)[1].rstrip(")")))

    def messages(self) -> list[str]:
        with self._lock:
            return [record["message"] for record in self.logs]

    def wait_log(self, needle: str, count: int = 1, timeout: float = 20.0) -> list[str]:
        def found() -> bool:
            return sum(needle in m for m in self.messages()) >= count

        try:
            until(found, timeout, repr(needle))
        except AssertionError:
            raise AssertionError(f"no {needle!r} in the log:\n{''.join(self.raw)}") from None
        return [m for m in self.messages() if needle in m]

    def wait(self, timeout: float = 30.0) -> int:
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def stop(self) -> None:
        """Kill what is left (ours only, by pid): the process and the
        supervised children it reported."""
        for pid in (self.process.pid, *self.children):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


class Env:
    """One test's queue (a key prefix of its own), app and processes."""

    def __init__(self, redis_url: str, tmp_path: Path) -> None:
        self.url = f"{redis_url}?prefix=qtk{uuid.uuid4().hex[:10]}"
        self.dir = tmp_path
        (tmp_path / "worker_app.py").write_text(APP)
        (tmp_path / "broken_app.py").write_text(BROKEN_APP)
        self.env = dict(os.environ, QTK_TEST_OUT=str(tmp_path), PYTHONDONTWRITEBYTECODE="1")
        self.env.pop("QUEUE_URL", None)
        self.running: list[Running] = []
        self.queue = SyncQueueService(self.url)

    def worker(self, *args: str) -> Running:
        argv = ["worker", *args, "--url", self.url, "--log-format", "json"]
        running = Running(argv, self.env, self.dir)
        self.running.append(running)
        return running

    def qtk(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "queue_core", *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.dir,
            timeout=timeout,
            check=False,
        )

    def close(self) -> None:
        for running in self.running:
            running.stop()
        self.queue.close()


@pytest.fixture
def env(redis_url: str, tmp_path: Path) -> Iterator[Env]:
    made = Env(redis_url, tmp_path)
    try:
        yield made
    finally:
        made.close()


def seed_work(env: Env, count: int) -> None:
    payloads = [json.dumps({"n": n}).encode() for n in range(count)]
    env.queue.enqueue_many("work", payloads)


def test_a_worker_runs_the_registry_and_stops_cleanly_on_sigterm(env: Env) -> None:
    seed_work(env, 20)
    health = env.dir / "alive"
    worker = env.worker("worker_app:tasks", "--topic", "work", "--health-file", str(health))
    until(lambda: len(lines(env.dir / "done")) == 20, what="20 jobs done")
    env.queue.wait_empty("work", timeout=10)
    assert sorted(int(line.split()[0]) for line in lines(env.dir / "done")) == list(range(20))
    assert lines(env.dir / "startup") == [str(worker.process.pid)]
    assert env.qtk("health", str(health)).returncode == 0
    worker.process.send_signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert lines(env.dir / "shutdown") == [str(worker.process.pid)]
    assert any(m.startswith("stopped: 20 acked") for m in worker.messages())
    assert not health.exists()  # removed at a clean stop
    stale = env.qtk("health", str(health))
    assert stale.returncode == 1
    assert "no heartbeat" in stale.stderr


def test_sigterm_mid_job_releases_it_without_using_an_attempt(env: Env) -> None:
    job_id = env.queue.enqueue("slow", b'{"seconds": 60}')
    worker = env.worker("worker_app:tasks", "-t", "slow", "--grace", "1")
    until(lambda: lines(env.dir / "started") == [job_id], what="the job to start")
    job = env.queue.get("slow", job_id)
    assert job is not None
    assert (job.state, job.attempt) == (JobState.IN_FLIGHT, 1)
    worker.process.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0  # bounded: not the job's 60 s
    job = env.queue.get("slow", job_id)
    assert job is not None
    assert (job.state, job.attempt) == (JobState.READY, 0)  # released, attempt given back
    assert not (env.dir / "finished").exists()
    assert any("1 released" in m for m in worker.messages())


def test_a_second_signal_exits_at_once(env: Env) -> None:
    job_id = env.queue.enqueue("slow", b'{"seconds": 60}')
    worker = env.worker("worker_app:tasks", "-t", "slow", "--grace", "60")
    until(lambda: lines(env.dir / "started") == [job_id], what="the job to start")
    worker.process.send_signal(signal.SIGTERM)
    worker.wait_log("stopping (SIGTERM received)")
    worker.process.send_signal(signal.SIGINT)
    assert worker.wait(30) == 128 + signal.SIGINT  # bounded: not the 60 s grace
    assert worker.wait_log("second signal (SIGINT)")
    job = env.queue.get("slow", job_id)
    assert job is not None
    assert (job.state, job.attempt) == (
        JobState.READY,
        0,
    )  # released at once, not left to its lease


def test_burst_drains_what_is_due_and_exits(env: Env) -> None:
    seed_work(env, 30)
    later = env.queue.enqueue("work", b'{"n": 99}', EnqueueOptions(delay=3600))
    worker = env.worker("worker_app:tasks", "--burst", "--concurrency", "4")
    assert worker.wait() == 0
    assert sorted(int(line.split()[0]) for line in lines(env.dir / "done")) == list(range(30))
    counts = env.queue.counts("work")
    assert (counts.ready, counts.in_flight, counts.scheduled) == (0, 0, 1)
    job = env.queue.get("work", later)
    assert job is not None
    assert job.state is JobState.SCHEDULED  # not due: left for a later run
    assert any("burst: nothing left that is due" in m for m in worker.messages())


def test_a_handler_function_runs_one_topic(env: Env) -> None:
    env.queue.enqueue_many("plain", [b"a", b"b"])
    worker = env.worker("worker_app:handle", "--topic", "plain", "--burst")
    assert worker.wait() == 0
    assert sorted(lines(env.dir / "plain")) == ["a", "b"]


def test_two_processes_and_a_killed_one_is_restarted(env: Env) -> None:
    supervisor = env.worker("worker_app:tasks", "-t", "work", "--processes", "2")
    started = supervisor.wait_log("started worker process", count=2)
    assert len(started) == 2
    supervisor.wait_log("worker worker_app:tasks on", count=2)  # both children ready
    first = sorted(supervisor.children)[0]
    os.kill(first, signal.SIGKILL)
    supervisor.wait_log("restarting in")
    supervisor.wait_log("started worker process", count=3)
    supervisor.wait_log("worker worker_app:tasks on", count=3)
    assert len(supervisor.children) == 3
    seed_work(env, 40)
    until(lambda: len(lines(env.dir / "done")) == 40, what="40 jobs done")
    supervisor.process.send_signal(signal.SIGTERM)
    assert supervisor.wait() == 0
    for pid in supervisor.children:  # every child ended (and was reaped)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert len(lines(env.dir / "shutdown")) == 2


def test_signals_to_every_process_of_the_group_still_stop_gracefully(env: Env) -> None:
    """A service manager may signal the supervisor and its workers at once
    (systemd's default): each worker then gets two SIGTERMs, one of them
    forwarded, and must still stop gracefully, releasing its job."""
    job_id = env.queue.enqueue("slow", b'{"seconds": 60}')
    supervisor = env.worker("worker_app:tasks", "-t", "slow", "-p", "2", "--grace", "1")
    supervisor.wait_log("worker worker_app:tasks on", count=2)
    until(lambda: lines(env.dir / "started") == [job_id], what="the job to start")
    for pid in (supervisor.process.pid, *supervisor.children):
        os.kill(pid, signal.SIGTERM)
    assert supervisor.wait() == 0, "".join(supervisor.raw)
    job = env.queue.get("slow", job_id)
    assert job is not None
    assert (job.state, job.attempt) == (JobState.READY, 0)
    assert len(lines(env.dir / "shutdown")) == 2


def test_a_second_signal_to_the_supervisor_exits_at_once(env: Env) -> None:
    job_id = env.queue.enqueue("slow", b'{"seconds": 60}')
    supervisor = env.worker("worker_app:tasks", "-t", "slow", "-p", "2", "--grace", "60")
    supervisor.wait_log("worker worker_app:tasks on", count=2)
    until(lambda: lines(env.dir / "started") == [job_id], what="the job to start")
    supervisor.process.send_signal(signal.SIGINT)
    supervisor.wait_log("stopping (SIGINT received)", count=2)
    supervisor.process.send_signal(signal.SIGINT)
    assert supervisor.wait(30) == 128 + signal.SIGINT  # bounded: not the 60 s grace
    for pid in supervisor.children:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_two_processes_in_burst_mode_exit_when_drained(env: Env) -> None:
    seed_work(env, 30)
    supervisor = env.worker("worker_app:tasks", "--processes", "2", "--burst")
    assert supervisor.wait() == 0
    assert len(lines(env.dir / "done")) == 30
    assert env.queue.counts("work").ready == 0


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single ``Error: ...`` line of a failed start (no traceback)."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith("Error: ")
    return errors[0]


def test_startup_failures_are_one_clear_line(env: Env) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    cases = {
        ("worker_app:tasks", "--url", down): "cannot reach the backend at redis://127.0.0.1",
        ("worker_app:tasks", "--url", "redis://:s3cret@h:x/0"): "port 'x' is not a port",
        ("worker_app:tasks", "--url", "amqp://h"): "unknown queue URL scheme 'amqp'",
        ("worker_app:tasks",): "no queue URL: pass --url or set QUEUE_URL",
        ("nosuchapp:tasks", "--url", "memory://"): "cannot import 'nosuchapp'",
        ("broken_app:tasks", "--url", "memory://"): "the config file is missing",
        ("worker_app:nope", "--url", "memory://"): "has no attribute 'nope'",
        ("worker_app:handle", "--url", "memory://"): "name its topic with --topic",
        ("worker_app:tasks", "-t", "other", "--url", "memory://"): "no task on topic(s)",
        ("worker_app:tasks", "--processes", "2", "--url", down): "cannot reach the backend",
    }
    for args, expected in cases.items():
        line = one_line_error(env.qtk("worker", *args))
        assert expected in line, (args, line)
        assert "s3cret" not in line


def test_the_qtk_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("qtk")
    done = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0
    assert done.stdout.startswith("qtk, version ")
