"""The operator commands as subprocesses on a seeded topic in a real
redis-server: tables for people and ``--json`` for scripts."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from queue_core import EnqueueOptions, JobState, NewJob, QueueService, SyncQueueService
from tests.redis_support import free_port

pytestmark = pytest.mark.redis


@dataclass
class Seeded:
    url: str
    queue: SyncQueueService
    env: dict[str, str]

    def qtk(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "queue_core", *args],
            input=stdin.decode("latin-1") if stdin is not None else None,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=False,
        )
        return done

    def ok(self, *args: str) -> str:
        done = self.qtk(*args)
        assert done.returncode == 0, (args, done.stderr)
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def parallel(self, *commands: tuple[str, ...]) -> list[str]:
        """Read-only commands at once (each is a process of its own)."""
        with ThreadPoolExecutor(4) as pool:
            return list(pool.map(lambda args: self.ok(*args), commands))


async def _seed(service: QueueService) -> None:
    driver = service.driver
    # e4 first and most urgent, so that the claim below takes it: in flight
    await service.enqueue("emails", b"running", EnqueueOptions(job_id="e4", priority=100))
    (running,) = await driver.claim("emails", max_jobs=1, lease=600)
    assert running.id == "e4"
    for n, error in ((1, "SMTP 550: no such user"), (2, "SMTP 554: rejected")):
        await driver.enqueue("emails", [NewJob(id=f"d{n}", payload=b"{}", priority=200)])
        (job,) = await driver.claim("emails", max_jobs=1, lease=60)
        await driver.dead_letter("emails", job.id, job.lease_token or "", error=error)
    headers = {"tenant": "acme"}
    await service.enqueue(
        "emails",
        b'{"to": "ada@example.com"}',
        EnqueueOptions(job_id="e1", priority=5, headers=headers),
    )
    await service.enqueue("emails", b"\x00\xff", EnqueueOptions(job_id="e2"))
    await service.enqueue("emails", b"later", EnqueueOptions(job_id="e3", delay=3600))
    await service.enqueue("reports", b"monthly", EnqueueOptions(job_id="r1"))


@pytest.fixture
def seeded(redis_url: str) -> Iterator[Seeded]:
    url = f"{redis_url}?prefix=adm{uuid.uuid4().hex[:10]}"
    env = dict(os.environ, QUEUE_URL=url, PYTHONDONTWRITEBYTECODE="1")
    with SyncQueueService(url) as queue:
        queue.run(_seed)
        yield Seeded(url, queue, env)


def test_topics_and_stats(seeded: Seeded) -> None:
    topics, stats, one, topics_json, stats_json = seeded.parallel(
        ("topics",),
        ("stats",),
        ("stats", "emails", "--url", seeded.url),
        ("topics", "--json"),
        ("stats", "--json"),
    )
    assert topics.split() == ["emails", "reports"]
    row = next(line for line in stats.splitlines() if " emails " in line)
    assert [cell.strip() for cell in row.split("│")[2:6]] == ["1", "2", "1", "2"]
    assert "reports" in stats
    assert "reports" not in one
    assert json.loads(topics_json) == ["emails", "reports"]
    data = {entry["topic"]: entry for entry in json.loads(stats_json)}
    emails = data["emails"]
    counts = (emails["scheduled"], emails["ready"], emails["in_flight"], emails["dead"])
    assert counts == (1, 2, 1, 2)
    assert emails["lag"] >= 0
    assert emails["oldest_due_at"] is not None
    assert data["reports"]["ready"] == 1


def test_stats_watch_prints_json_lines_until_interrupted(seeded: Seeded) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "queue_core", "stats", "--watch", "--interval", "0.1", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=seeded.env,
    )
    try:
        assert process.stdout is not None
        ticks = [json.loads(process.stdout.readline()) for _ in range(2)]
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    for tick in ticks:
        assert {entry["topic"] for entry in tick["topics"]} == {"emails", "reports"}
    assert ticks[1]["time"] > ticks[0]["time"]


def test_jobs_in_every_state(seeded: Seeded) -> None:
    ready, scheduled, running, dead, *found = seeded.parallel(
        ("jobs", "emails"),
        ("jobs", "emails", "--state", "scheduled"),
        ("jobs", "emails", "--state", "in_flight"),
        ("jobs", "emails", "--state", "dead"),
        ("jobs", "emails", "--json"),
        ("jobs", "emails", "--limit", "1", "--offset", "1", "--json"),
        ("jobs", "emails", "--state", "in_flight", "--json"),
        ("jobs", "emails", "--state", "dead", "--json"),
    )
    listed, page, (flight,), dead_jobs = (json.loads(text) for text in found)
    assert "emails: ready jobs 1-2 of 2" in ready
    assert ready.index("e1") < ready.index("e2")  # claim order: priority first
    assert "e3" in scheduled
    assert "e1" not in scheduled
    assert "e4" in running
    assert "in 9m" in running
    assert "SMTP 550: no such user" in dead
    assert [job["id"] for job in listed] == ["e1", "e2"]
    assert listed[0]["headers"] == {"tenant": "acme"}
    assert [job["id"] for job in page] == ["e2"]
    assert (flight["state"], flight["attempt"]) == ("in_flight", 1)
    assert flight["lease_deadline"] is not None
    assert {job["id"]: job["last_error"] for job in dead_jobs} == {
        "d1": "SMTP 550: no such user",
        "d2": "SMTP 554: rejected",
    }


def test_one_job(seeded: Seeded) -> None:
    table, text, binary, binary_table, dead = seeded.parallel(
        ("job", "emails", "e1"),
        ("job", "emails", "e1", "--json"),
        ("job", "emails", "e2", "--json"),
        ("job", "emails", "e2"),
        ("job", "emails:dead", "d1", "--json"),
    )
    for expected in ("e1", "ready", "tenant: acme", '{"to": "ada@example.com"}', "0 of 5"):
        assert expected in table
    shown = json.loads(text)
    assert (shown["payload"], shown["payload_encoding"], shown["priority"]) == (
        '{"to": "ada@example.com"}',
        "utf-8",
        5,
    )
    raw_json = json.loads(binary)
    assert raw_json["payload_encoding"] == "base64"
    assert base64.b64decode(raw_json["payload"]) == b"\x00\xff"
    assert "00 ff" in binary_table
    assert json.loads(dead)["last_error"] == "SMTP 550: no such user"
    raw = subprocess.run(
        [sys.executable, "-m", "queue_core", "job", "emails", "e2", "--payload"],
        capture_output=True,
        env=seeded.env,
        timeout=60,
        check=True,
    )
    assert raw.stdout == b"\x00\xff"
    missing = seeded.qtk("job", "emails", "nope")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "Error: no job 'nope' in topic 'emails'"


def test_enqueue_from_an_argument_or_stdin(seeded: Seeded) -> None:
    made = seeded.json(
        "enqueue",
        "emails",
        '{"to": "c@example.com"}',
        "--priority",
        "7",
        "--job-id",
        "c1",
        "--header",
        "tenant=globex",
        "--max-attempts",
        "3",
    )
    assert made == {"topic": "emails", "id": "c1", "created": True}
    job = seeded.queue.get("emails", "c1")
    assert job is not None
    assert (job.payload, job.priority, job.max_attempts) == (b'{"to": "c@example.com"}', 7, 3)
    assert dict(job.headers) == {"tenant": "globex"}
    again = seeded.qtk("enqueue", "emails", "other", "--job-id", "c1")
    assert (again.returncode, again.stdout.strip()) == (0, "c1")
    assert "nothing was created" in again.stderr
    piped = seeded.qtk("enqueue", "reports", "--delay", "60", stdin=b"\x01\x02 bytes")
    assert piped.returncode == 0, piped.stderr
    job = seeded.queue.get("reports", piped.stdout.strip())
    assert job is not None
    assert (job.payload, job.state) == (b"\x01\x02 bytes", JobState.SCHEDULED)
    at = seeded.json("enqueue", "reports", "x", "--run-at", "2999-01-01T00:00:00+00:00")
    job = seeded.queue.get("reports", at["id"])
    assert job is not None
    assert job.run_at == 32472144000.0
    bad = seeded.qtk("enqueue", "reports", "x", "--header", "no-equals-sign")
    assert bad.returncode == 2
    assert "is not NAME=VALUE" in bad.stderr
    worse = seeded.qtk("enqueue", "reports", "x", "--priority", "99999999999")
    assert worse.returncode == 2
    assert "priority" in worse.stderr


def test_cancel(seeded: Seeded) -> None:
    outcomes = seeded.json("cancel", "emails", "e3", "e4", "nope")
    assert outcomes == [
        {"id": "e3", "outcome": "cancelled"},
        {"id": "e4", "outcome": "requested"},
        {"id": "nope", "outcome": "not_found"},
    ]
    assert seeded.ok("cancel", "emails", "e2").split() == ["e2", "cancelled"]
    assert seeded.queue.get("emails", "e2") is None


def test_dead_letters_list_redrive_purge(seeded: Seeded) -> None:
    table = seeded.ok("dead", "list", "emails")
    assert "emails: dead letters 1-2 of 2" in table
    assert "SMTP 554: rejected" in table
    assert [job["id"] for job in seeded.json("dead", "list", "emails")] == ["d1", "d2"]
    assert seeded.json("dead", "redrive", "emails", "d1") == {"topic": "emails", "redriven": 1}
    moved = seeded.queue.get("emails", "d1")
    assert moved is not None
    assert (moved.state, moved.attempt) == (JobState.READY, 0)
    refused = seeded.qtk("dead", "purge", "emails")
    assert refused.returncode == 2
    assert "or --all" in refused.stderr
    assert seeded.qtk("dead", "purge", "emails", "d2", "--all").returncode == 2
    assert seeded.ok("dead", "purge", "emails", "--all").strip() == (
        "1 dead letter(s) of emails deleted"
    )
    assert seeded.queue.list_dead("emails") == []
    assert seeded.json("dead", "redrive", "emails", "--all")["redriven"] == 0
    assert seeded.json("dead", "purge", "emails", "--all") == {"topic": "emails", "purged": 0}
    assert seeded.ok("dead", "redrive", "emails", "nope").strip() == (
        "0 dead letter(s) moved back to emails"
    )


def test_commands_against_a_backend_that_is_down_fail_in_one_line(tmp_path: Path) -> None:
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    env = dict(os.environ, QUEUE_URL=url)
    for args in (("topics",), ("stats", "t"), ("jobs", "t"), ("dead", "list", "t")):
        done = subprocess.run(
            [sys.executable, "-m", "queue_core", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, (args, done.stderr)
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith("Error: cannot reach the backend at redis://:***@127.0.0.1")
        assert "s3cret" not in done.stderr
