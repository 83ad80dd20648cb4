"""The ``qtk`` command in process (click's runner) on the in-memory backend:
plans, hooks, optional extras that are missing, logging, and what
``import queue_core`` leaves alone."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from queue_core import SubscribeOptions, Tasks
from queue_core.cli import main
from queue_core.cli._common import StartupError
from queue_core.cli._logging import JsonFormatter, configure_logging
from queue_core.cli._worker import build_plan


def run(*args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def write_app(tmp_path: Path, source: str) -> str:
    """A module of its own name in ``tmp_path``; its name."""
    name = f"cli_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(source)
    return name


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield None
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def test_every_command_has_help() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for name in ("worker", "topics", "stats", "jobs", "job", "enqueue", "cancel", "dead"):
        assert name in result.output
        assert run(name, "--help").exit_code == 0
    for name in ("list", "redrive", "purge"):
        assert run("dead", name, "--help").exit_code == 0


def test_a_burst_worker_on_memory_runs_startup_and_shutdown_hooks(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    name = write_app(
        tmp_path,
        f"""
from queue_core import Tasks
tasks = Tasks()
OUT = {str(out)!r}

@tasks.on_startup
async def seed() -> None:
    # memory:// lives in this process: the startup hook enqueues the work
    await double.enqueue_many([double.call(n) for n in range(5)])

@tasks.on_shutdown
def bye() -> None:
    with open(OUT, "a") as out:
        out.write("bye\\n")

@tasks.task(topic="math")
def double(n: int) -> None:
    with open(OUT, "a") as out:
        out.write(f"{{n * 2}}\\n")
""",
    )
    result = run(
        "worker", f"{name}:tasks", "--url", "memory://", "--burst", "--app-dir", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    lines = out.read_text().split()
    assert sorted(lines[:-1], key=int) == ["0", "2", "4", "6", "8"]
    assert lines[-1] == "bye"


def test_hook_failures(tmp_path: Path) -> None:
    name = write_app(
        tmp_path,
        """
from queue_core import Tasks
tasks = Tasks()

@tasks.on_startup
def connect() -> None:
    raise ConnectionRefusedError("the database is down")

@tasks.task
async def noop() -> None: ...
""",
    )
    result = run("worker", f"{name}:tasks", "--url", "memory://", "--app-dir", str(tmp_path))
    assert result.exit_code == 2
    assert "startup hook connect failed: ConnectionRefusedError: the database is down" in (
        result.output
    )
    late = write_app(
        tmp_path,
        """
from queue_core import Tasks
tasks = Tasks()

@tasks.on_shutdown
async def close() -> None:
    raise RuntimeError("could not flush")

@tasks.task
async def noop() -> None: ...
""",
    )
    result = run(
        "worker", f"{late}:tasks", "--url", "memory://", "--burst", "--app-dir", str(tmp_path)
    )
    assert result.exit_code == 1


def test_a_missing_metrics_extra_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "queue_core.metrics", None)
    name = write_app(tmp_path, "from queue_core import Tasks\ntasks = Tasks()\n")
    result = run(
        "worker", f"{name}:tasks", "--url", "memory://", "--metrics-port", "0", "--app-dir", "."
    )
    assert result.exit_code == 2
    assert "pip install 'queue-toolkit[metrics]'" in result.output
    assert "Traceback" not in result.output


def test_a_missing_dashboard_extra_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "queue_core.dashboard", None)
    result = run("dashboard", "--url", "memory://")
    assert result.exit_code == 2
    assert "pip install 'queue-toolkit[dashboard]'" in result.output


def test_operator_commands_on_memory() -> None:
    made = run("enqueue", "t", "hello", "--url", "memory://", "--json")
    assert made.exit_code == 0
    assert json.loads(made.output)["created"] is True
    assert run("topics", "--url", "memory://", "--json").output.strip() == "[]"  # a fresh store
    piped = run("enqueue", "t", "--url", "memory://", input=b"from stdin")
    assert piped.exit_code == 0
    unknown_state = run("jobs", "t", "--state", "done", "--url", "memory://")
    assert unknown_state.exit_code == 2
    bad_topic = run("stats", "bad topic", "--url", "memory://")
    assert bad_topic.exit_code == 2
    assert "invalid topic 'bad topic'" in bad_topic.output


def test_health(tmp_path: Path) -> None:
    beat = tmp_path / "beat"
    beat.touch()
    fresh = run("health", str(beat), "--max-age", "30")
    assert fresh.exit_code == 0
    old = time.time() - 120
    os.utime(beat, (old, old))
    stale = run("health", str(beat), "--max-age", "30")
    assert stale.exit_code == 1
    assert "stale heartbeat" in stale.output


def test_build_plan() -> None:
    tasks = Tasks()

    @tasks.task(topic="a", subscribe=SubscribeOptions(concurrency=3, lease=60))
    async def one() -> None: ...

    @tasks.task(topic="b")
    async def two() -> None: ...

    plan = build_plan("app:tasks", tasks)
    assert plan.topics == ["a", "b"]
    assert plan.tasks is tasks
    assert [s.options.concurrency for s in plan.subscriptions] == [3, 10]
    tuned = build_plan("app:tasks", tasks, topics=["a"], concurrency=20)
    assert tuned.topics == ["a"]
    assert (tuned.subscriptions[0].options.concurrency, tuned.subscriptions[0].options.lease) == (
        20,
        60,
    )
    assert build_plan("app:two", two).topics == ["b"]

    def handle(job: object) -> None: ...

    assert build_plan("app:handle", handle, topics=["x", "y"]).topics == ["x", "y"]
    assert build_plan("app:handle", handle, topics=["x"]).tasks is None
    failures: list[tuple[Callable[[], object], str]] = [
        (lambda: build_plan("app:two", two, topics=["a"]), "runs on topic 'b' only"),
        (lambda: build_plan("app:Tasks", Tasks), "is a type"),
        (lambda: build_plan("app", os), "is a module"),
        (lambda: build_plan("app:x", 42), "is a int"),
        (lambda: build_plan("app:t", Tasks()), "declares no task"),
        (lambda: build_plan("app:h", handle, topics=["x", "x"]), "given twice"),
        (lambda: build_plan("app:h", handle, topics=["a b"]), "invalid topic"),
    ]
    for call, message in failures:
        with pytest.raises(StartupError, match=message):
            call()


def test_json_log_lines() -> None:
    formatter = JsonFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed %s", ("job-1",), sys.exc_info()
        )
    line = json.loads(formatter.format(record))
    assert line["level"] == "ERROR"
    assert line["logger"] == "x"
    assert line["message"] == "failed job-1"
    assert line["pid"] == os.getpid()
    assert line["time"].endswith("Z")
    assert "ValueError: boom" in line["exc_info"]
    configure_logging("debug", "json")
    configure_logging("warning", "text")  # replaces its handler, keeps others
    ours = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    assert len([h for h in ours if isinstance(h.formatter, JsonFormatter)]) == 0
    assert logging.getLogger().level == logging.WARNING


def test_import_queue_core_does_not_import_the_cli_dependencies() -> None:
    code = (
        "import sys, queue_core\n"
        "heavy = [m for m in ('click', 'rich', 'redis', 'queue_core.cli') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_without_click_the_command_says_what_to_install() -> None:
    code = (
        "import runpy, sys\n"
        "sys.modules['click'] = None\n"
        "sys.argv = ['qtk', '--help']\n"
        "runpy.run_module('queue_core', run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "Error: the qtk command needs click and rich: pip install 'queue-toolkit[cli]'"
    )
