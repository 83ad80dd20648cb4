"""The Prometheus exporter: its output after a known workload, parsed with
the Prometheus text parser; the gauges from counts (cached, bounded, never
breaking a scrape); the HTTP endpoint; the naming rules."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import queue_core.metrics
from queue_core import (
    BackendUnavailable,
    Counts,
    DeadLetter,
    EnqueueOptions,
    FakeClock,
    InvalidArgument,
    Job,
    QueueOptions,
    QueueService,
    RetryPolicy,
    SubscribeOptions,
    Unsupported,
)
from queue_core.metrics import PrometheusHooks, QueueCollector, start_metrics_server
from queue_memory import MemoryDriver, run_until_idle
from tests.fakes import T0, async_test

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _parse(text: str) -> Samples:
    """Every sample of an exposition, keyed by name and sorted labels."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _get(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def _scrape(registry: CollectorRegistry) -> Samples:
    return _parse(generate_latest(registry).decode())


class _CountingDriver(MemoryDriver):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.count_calls = 0
        self.fail = False
        self.hang = False
        self.listable = True

    async def counts(self, topic: str) -> Counts:
        self.count_calls += 1
        if self.hang:
            await asyncio.sleep(30)
        if self.fail:
            raise BackendUnavailable("the backend is down")
        return await super().counts(topic)

    async def topics(self) -> list[str]:
        if not self.listable:
            raise Unsupported("no listing")
        return await super().topics()


@async_test
async def test_the_exporter_after_a_known_workload() -> None:
    clock = FakeClock(T0)
    registry = CollectorRegistry()
    hooks = PrometheusHooks(registry, clock=clock)
    retry = RetryPolicy(initial_delay=1.0, jitter=0.0)
    service = QueueService(MemoryDriver(clock=clock), QueueOptions(retry=retry), hooks=[hooks])
    for i in range(6):
        await service.enqueue("emails", b"ok", EnqueueOptions(job_id=f"ok-{i}"))
    await service.enqueue("emails", b"ok", EnqueueOptions(job_id="ok-0"))  # a duplicate
    await service.enqueue("emails", b"flaky", EnqueueOptions(job_id="flaky"))
    await service.enqueue("emails", b"poison", EnqueueOptions(job_id="poison", max_attempts=2))
    await service.enqueue("emails", b"bury", EnqueueOptions(job_id="bury"))
    await service.enqueue("later", b"x", EnqueueOptions(delay=3600.0))
    await service.enqueue_many("backlog", [b"a", b"b", b"c"])
    clock.advance(7.0)  # every job waits 7 s before its first attempt
    attempts: dict[str, int] = {}

    async def handler(job: Job) -> None:
        attempts[job.id] = job.attempt
        if job.payload == b"flaky" and job.attempt == 1:
            raise RuntimeError("try again")
        if job.payload == b"poison":
            raise RuntimeError("always fails")
        if job.payload == b"bury":
            raise DeadLetter("malformed")

    options = SubscribeOptions(concurrency=1, lease=60.0)
    await run_until_idle(service, "emails", handler, options=options)
    collector = QueueCollector(service, clock=clock)
    registry.register(collector)
    await collector.refresh()
    text = generate_latest(registry).decode()
    samples = _parse(text)

    assert _get(samples, "qtk_jobs_enqueued_total", topic="emails") == 9
    assert _get(samples, "qtk_jobs_enqueued_total", topic="backlog") == 3
    assert _get(samples, "qtk_enqueue_duplicates_total", topic="emails") == 1
    acked = _get(samples, "qtk_job_attempts_total", topic="emails", outcome="acked")
    retried = _get(samples, "qtk_job_attempts_total", topic="emails", outcome="retried")
    dead = _get(samples, "qtk_job_attempts_total", topic="emails", outcome="dead_lettered")
    assert (acked, retried, dead) == (7, 2, 2)  # 6 ok + flaky; flaky + poison; poison + bury
    assert _get(samples, "qtk_job_attempts_total", topic="emails", outcome="lease_lost") == 0
    assert _get(samples, "qtk_jobs_claimed_total", topic="emails") == 11
    for outcome, count in (("acked", 7), ("retried", 2), ("dead_lettered", 2)):
        labels = {"topic": "emails", "outcome": outcome}
        assert _get(samples, "qtk_job_duration_seconds_count", **labels) == count
    # first attempts waited 7 s (in the 10 s bucket, not the 5 s one); the
    # retries ran as soon as they came due (the fake clock moved to them)
    assert _get(samples, "qtk_job_start_delay_seconds_count", topic="emails") == 11
    assert _get(samples, "qtk_job_start_delay_seconds_bucket", topic="emails", le="5.0") == 2
    assert _get(samples, "qtk_job_start_delay_seconds_bucket", topic="emails", le="10.0") == 11
    assert _get(samples, "qtk_job_start_delay_seconds_sum", topic="emails") == pytest.approx(63)
    # the gauges, from counts()
    for topic, state, value in (
        ("emails", "ready", 0),
        ("emails", "dead", 2),
        ("later", "scheduled", 1),
        ("backlog", "ready", 3),
        ("backlog", "in_flight", 0),
    ):
        assert _get(samples, "qtk_topic_jobs", topic=topic, state=state) == value
    assert _get(samples, "qtk_topic_lag_seconds", topic="later") == 0
    lag = _get(samples, "qtk_topic_lag_seconds", topic="backlog")
    assert lag == pytest.approx(clock.now() - T0)
    assert _get(samples, "qtk_backend_up") == 1
    assert _get(samples, "qtk_collect_errors_total") == 0
    # bounded labels: topic, outcome and state only, never a job id
    for name, pairs in samples:
        assert name.startswith("qtk_"), name
        assert {key for key, _ in pairs} <= {"topic", "outcome", "state", "le"}, name
        assert not {value for _, value in pairs} & set(attempts), name
    await service.close()


def test_metric_names_follow_the_prometheus_conventions() -> None:
    registry = CollectorRegistry()
    PrometheusHooks(registry)
    families = list(registry.collect())
    for family in families:
        assert family.name.startswith("qtk_")
        if family.type == "counter":
            assert not family.name.endswith("_total")  # the client adds _total
        if family.type == "histogram":
            assert family.name.endswith("_seconds")
    names = {family.name for family in families}
    assert names == {
        "qtk_jobs_enqueued",
        "qtk_enqueue_duplicates",
        "qtk_enqueue_errors",
        "qtk_jobs_claimed",
        "qtk_job_attempts",
        "qtk_leases_lost",
        "qtk_settle_failures",
        "qtk_job_duration_seconds",
        "qtk_job_start_delay_seconds",
    }


@async_test
async def test_enqueue_errors_are_counted() -> None:
    registry = CollectorRegistry()
    driver = MemoryDriver()
    service = QueueService(driver, hooks=[PrometheusHooks(registry)])
    await driver.close()
    with pytest.raises(Exception, match="closed"):
        await service.enqueue_many("t", [b"a", b"b"])
    assert _get(_scrape(registry), "qtk_enqueue_errors_total", topic="t") == 2


@async_test
async def test_topic_labels_are_bounded() -> None:
    registry = CollectorRegistry()
    service = QueueService(MemoryDriver(), hooks=[PrometheusHooks(registry, max_topics=2)])
    for topic in ("a", "b", "c", "d"):
        await service.enqueue(topic, b"x")
    samples = _scrape(registry)
    assert _get(samples, "qtk_jobs_enqueued_total", topic="_other") == 2
    assert ("qtk_jobs_enqueued_total", (("topic", "c"),)) not in samples
    with pytest.raises(InvalidArgument):
        PrometheusHooks(CollectorRegistry(), max_topics=0)
    await service.close()


@async_test
async def test_a_failing_backend_never_breaks_the_scrape() -> None:
    driver = _CountingDriver()
    service = QueueService(driver)
    await service.enqueue("t", b"x")
    registry = CollectorRegistry()
    collector = QueueCollector(service, cache_ttl=0.0)
    registry.register(collector)
    driver.fail = True
    await collector.refresh()
    samples = _scrape(registry)
    assert _get(samples, "qtk_backend_up") == 0
    assert _get(samples, "qtk_collect_errors_total") == 1
    assert not [name for name, _ in samples if name == "qtk_topic_jobs"]
    driver.fail = False
    await collector.refresh()
    samples = _scrape(registry)
    assert _get(samples, "qtk_backend_up") == 1
    assert _get(samples, "qtk_topic_jobs", topic="t", state="ready") == 1
    await service.close()


@async_test
async def test_a_hanging_backend_times_the_scrape_out() -> None:
    driver = _CountingDriver()
    service = QueueService(driver)
    await service.enqueue("t", b"x")
    registry = CollectorRegistry()
    registry.register(QueueCollector(service, timeout=0.2))
    driver.hang = True
    samples = await asyncio.to_thread(_scrape, registry)  # a scrape from another thread
    assert _get(samples, "qtk_backend_up") == 0
    assert _get(samples, "qtk_collect_errors_total") == 1
    await service.close()


@async_test
async def test_scrapes_within_the_cache_ttl_read_the_backend_once() -> None:
    driver = _CountingDriver()
    service = QueueService(driver)
    for topic in ("a", "b", "c"):
        await service.enqueue(topic, b"x")
    registry = CollectorRegistry()
    registry.register(QueueCollector(service, cache_ttl=60.0))
    first = await asyncio.to_thread(_scrape, registry)
    second = await asyncio.to_thread(_scrape, registry)
    assert first == second
    assert driver.count_calls == 3  # one counts() per topic, once
    assert _get(first, "qtk_topic_jobs", topic="b", state="ready") == 1
    await service.close()


@async_test
async def test_a_scrape_on_the_loop_thread_reports_the_last_collection() -> None:
    service = QueueService(MemoryDriver())
    await service.enqueue("t", b"x")
    registry = CollectorRegistry()
    collector = QueueCollector(service)
    registry.register(collector)
    assert _get(_scrape(registry), "qtk_backend_up") == 0  # nothing collected yet, no deadlock
    await collector.refresh()
    assert _get(_scrape(registry), "qtk_topic_jobs", topic="t", state="ready") == 1
    await service.close()


@async_test
async def test_topics_given_or_listed() -> None:
    driver = _CountingDriver()
    driver.listable = False
    service = QueueService(driver)
    await service.enqueue("a", b"x")
    await service.enqueue("b", b"x")
    unlisted = QueueCollector(service)
    await unlisted.refresh()
    samples = _parse(generate_latest(_registry(unlisted)).decode())
    assert _get(samples, "qtk_backend_up") == 0
    given = QueueCollector(service, ["b"])
    await given.refresh()
    samples = _parse(generate_latest(_registry(given)).decode())
    assert _get(samples, "qtk_backend_up") == 1
    assert _get(samples, "qtk_topic_jobs", topic="b", state="ready") == 1
    assert ("qtk_topic_jobs", (("state", "ready"), ("topic", "a"))) not in samples
    with pytest.raises(InvalidArgument):
        QueueCollector(service, "ab")
    with pytest.raises(InvalidArgument):
        QueueCollector(service, ["bad topic"])
    await service.close()


def _registry(collector: QueueCollector) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(collector)
    return registry


def test_a_collector_needs_the_service_loop() -> None:
    service = QueueService(MemoryDriver())
    with pytest.raises(InvalidArgument, match="event loop"):
        QueueCollector(service)


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
    return body.decode()


@async_test
async def test_the_metrics_server() -> None:
    service = QueueService(MemoryDriver())
    await service.enqueue("before", b"x")  # not counted: the hooks come with the server
    server = start_metrics_server(0, service)
    try:
        assert server.host == "127.0.0.1"
        assert server.url == f"http://127.0.0.1:{server.port}/metrics"
        await service.enqueue("after", b"x")
        samples = _parse(await asyncio.to_thread(_fetch, server.url))
        assert _get(samples, "qtk_jobs_enqueued_total", topic="after") == 1
        assert ("qtk_jobs_enqueued_total", (("topic", "before"),)) not in samples
        assert _get(samples, "qtk_topic_jobs", topic="before", state="ready") == 1
        assert _get(samples, "qtk_backend_up") == 1
        assert any(name.startswith("process_") for name, _ in samples)
    finally:
        server.close()
    server.close()  # idempotent
    with pytest.raises(urllib.error.URLError):
        await asyncio.to_thread(_fetch, server.url)
    await service.enqueue("after", b"x")  # the hooks are gone: nothing counts it
    assert _get(_scrape(server.registry), "qtk_jobs_enqueued_total", topic="after") == 1
    with pytest.raises(InvalidArgument):
        start_metrics_server(-1, service)
    await service.close()


@pytest.mark.redis
@async_test
async def test_the_gauges_on_redis(redis_url: str) -> None:
    from queue_redis import RedisDriver
    from tests.redis_support import connect

    async with connect(redis_url) as client:
        service = QueueService(RedisDriver(client, prefix=f"metrics-{uuid.uuid4().hex[:8]}"))
        await service.enqueue_many("jobs", [b"a", b"b"])
        await service.enqueue("jobs", b"c", EnqueueOptions(delay=3600.0))
        collector = QueueCollector(service)
        samples = await asyncio.to_thread(_scrape, _registry(collector))
        assert _get(samples, "qtk_backend_up") == 1
        assert _get(samples, "qtk_topic_jobs", topic="jobs", state="ready") == 2
        assert _get(samples, "qtk_topic_jobs", topic="jobs", state="scheduled") == 1
        assert 0 <= _get(samples, "qtk_topic_lag_seconds", topic="jobs") < 60
        await service.close()


def test_the_metrics_exports() -> None:
    expected = ["MetricsServer", "PrometheusHooks", "QueueCollector", "start_metrics_server"]
    assert sorted(queue_core.metrics.__all__) == expected
    for name in expected:
        assert getattr(queue_core.metrics, name).__module__.startswith("queue_core.metrics._")


def test_import_queue_core_imports_no_optional_dependency() -> None:
    code = (
        "import sys, queue_core, queue_memory\n"
        "heavy = ('prometheus_client', 'opentelemetry', 'starlette', 'jinja2', 'uvicorn')\n"
        "print([m for m in sys.modules if m.split('.')[0] in heavy])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_importing_it_without_its_extra_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['prometheus_client'] = None\n"
        "try:\n    import queue_core.metrics\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'queue-toolkit[metrics]'" in out.stdout
