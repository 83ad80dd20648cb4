"""OpenTelemetry tracing: a trace from enqueue to handler, recorded with the
SDK's in-memory exporter."""

from __future__ import annotations

import subprocess
import sys

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import queue_core.tracing
from queue_core import (
    DeadLetter,
    EnqueueOptions,
    FakeClock,
    InvalidArgument,
    Job,
    QueueService,
    SubscribeOptions,
)
from queue_core.tracing import TracingHooks
from queue_memory import MemoryDriver, run_until_idle
from tests.fakes import async_test

OPTIONS = SubscribeOptions(concurrency=1, lease=60.0)


def _tracing() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


@async_test
async def test_a_trace_from_enqueue_to_the_handler() -> None:
    provider, exporter = _tracing()
    tracer = provider.get_tracer("app")
    service = QueueService(MemoryDriver(clock=FakeClock()), hooks=[TracingHooks(provider)])
    with tracer.start_as_current_span("http request") as request:
        job_id = await service.enqueue("emails", b"hello", EnqueueOptions(headers={"a": "b"}))
    seen: dict[str, str] = {}

    async def handler(job: Job) -> None:
        seen.update(job.headers)
        with tracer.start_as_current_span("send the email"):
            pass

    await run_until_idle(service, "emails", handler, options=OPTIONS)
    spans = exporter.get_finished_spans()
    (producer,) = _named(spans, "enqueue emails")
    (consumer,) = _named(spans, "process emails")
    (inner,) = _named(spans, "send the email")
    # the producer span is a child of the caller's span, and its context
    # travels in the headers (next to the job's own)
    assert producer.kind is SpanKind.PRODUCER
    assert producer.parent is not None
    assert producer.parent.span_id == request.get_span_context().span_id
    assert seen["a"] == "b"
    trace_id = f"{producer.context.trace_id:032x}"
    assert seen["traceparent"].startswith(f"00-{trace_id}-{producer.context.span_id:016x}-")
    assert producer.attributes is not None
    assert dict(producer.attributes) == {
        "messaging.system": "queue_toolkit",
        "messaging.destination.name": "emails",
        "messaging.operation.type": "send",
        "messaging.operation.name": "enqueue",
        "messaging.message.id": job_id,
        "messaging.message.body.size": 5,
        "qtk.job.priority": 0,
        "qtk.job.max_attempts": 5,
        "qtk.created": True,
    }
    # the consumer span: a new trace, linked to the producer
    assert consumer.kind is SpanKind.CONSUMER
    assert consumer.parent is None
    assert [link.context.span_id for link in consumer.links] == [producer.context.span_id]
    assert consumer.attributes is not None
    assert consumer.attributes["messaging.operation.type"] == "process"
    assert consumer.attributes["messaging.destination.name"] == "emails"
    assert consumer.attributes["messaging.message.id"] == job_id
    assert consumer.attributes["qtk.job.attempt"] == 1
    assert consumer.attributes["qtk.outcome"] == "acked"
    assert consumer.status.status_code is StatusCode.UNSET
    # the handler's own span is a child of the consumer span
    assert inner.parent is not None
    assert inner.parent.span_id == consumer.context.span_id
    assert inner.context.trace_id == consumer.context.trace_id
    await service.close()


@async_test
async def test_one_consumer_span_per_attempt_with_failures_marked() -> None:
    provider, exporter = _tracing()
    service = QueueService(MemoryDriver(clock=FakeClock()), hooks=[TracingHooks(provider)])
    await service.enqueue("t", b"flaky", EnqueueOptions(job_id="flaky"))
    await service.enqueue("t", b"bad", EnqueueOptions(job_id="bad"))

    async def handler(job: Job) -> None:
        if job.payload == b"bad":
            raise DeadLetter("malformed")
        if job.attempt == 1:
            raise RuntimeError("try again")

    await run_until_idle(service, "t", handler, options=OPTIONS)
    spans = exporter.get_finished_spans()
    producers = {
        span.attributes["messaging.message.id"]: span
        for span in _named(spans, "enqueue t")
        if span.attributes is not None
    }
    attempts = [
        span
        for span in _named(spans, "process t")
        if span.attributes is not None and span.attributes["messaging.message.id"] == "flaky"
    ]
    assert [span.attributes["qtk.job.attempt"] for span in attempts if span.attributes] == [1, 2]
    first, second = attempts
    for span in attempts:
        assert [link.context.span_id for link in span.links] == [producers["flaky"].context.span_id]
    assert first.status.status_code is StatusCode.ERROR
    assert first.attributes is not None
    assert first.attributes["qtk.outcome"] == "retried"
    assert first.attributes["error.type"] == "RuntimeError"
    assert [event.name for event in first.events] == ["exception"]
    assert second.status.status_code is StatusCode.UNSET
    (buried,) = [
        span
        for span in _named(spans, "process t")
        if span.attributes is not None and span.attributes["messaging.message.id"] == "bad"
    ]
    assert buried.attributes is not None
    assert buried.attributes["qtk.outcome"] == "dead_lettered"
    assert buried.status.status_code is StatusCode.ERROR
    await service.close()


@async_test
async def test_child_of_producer_makes_one_trace() -> None:
    provider, exporter = _tracing()
    hooks = TracingHooks(provider, child_of_producer=True)
    service = QueueService(MemoryDriver(clock=FakeClock()), hooks=[hooks])
    await service.enqueue("t", b"x")

    async def handler(job: Job) -> None:
        pass

    await run_until_idle(service, "t", handler, options=OPTIONS)
    spans = exporter.get_finished_spans()
    (producer,) = _named(spans, "enqueue t")
    (consumer,) = _named(spans, "process t")
    assert consumer.parent is not None
    assert consumer.parent.span_id == producer.context.span_id
    assert consumer.context.trace_id == producer.context.trace_id
    await service.close()


@async_test
async def test_a_failed_enqueue_ends_its_span_with_an_error() -> None:
    provider, exporter = _tracing()
    driver = MemoryDriver()
    service = QueueService(driver, hooks=[TracingHooks(provider)])
    await driver.close()
    with pytest.raises(Exception, match="closed"):
        await service.enqueue("t", b"x")
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "Closed"


@async_test
async def test_headers_at_their_limit_are_kept_and_the_job_still_enqueued() -> None:
    provider, exporter = _tracing()
    service = QueueService(MemoryDriver(clock=FakeClock()), hooks=[TracingHooks(provider)])
    full = {f"h{i}": "v" for i in range(64)}  # the most headers a job may carry
    job_id = await service.enqueue("t", b"x", EnqueueOptions(headers=full))
    job = await service.get("t", job_id)
    assert job is not None
    assert dict(job.headers) == full  # no room for traceparent: left out
    (span,) = exporter.get_finished_spans()
    assert span.name == "enqueue t"
    await service.close()


@async_test
async def test_open_spans_are_bounded() -> None:
    provider, exporter = _tracing()
    hooks = TracingHooks(provider, max_open=2)
    for i in range(3):  # started, but no enqueue ever reported back
        hooks.before_enqueue("t", queue_core.NewJob(id=f"j{i}", payload=b""))
    (evicted,) = exporter.get_finished_spans()
    assert evicted.attributes is not None
    assert evicted.attributes["messaging.message.id"] == "j0"
    assert evicted.attributes["qtk.unfinished"] is True
    with pytest.raises(InvalidArgument):
        TracingHooks(provider, max_open=0)


def test_the_tracing_exports() -> None:
    assert queue_core.tracing.__all__ == ["TracingHooks"]
    assert TracingHooks.__module__ == "queue_core.tracing._hooks"


def test_importing_it_without_opentelemetry_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "import queue_core\n"
        "try:\n    import queue_core.tracing\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'queue-toolkit[tracing]'" in out.stdout
