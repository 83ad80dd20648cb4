"""Producer and consumer spans from the runtime's hooks."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from contextvars import Token

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from .._errors import InvalidArgument
from .._hooks import Hooks, Outcome
from .._job import Job, NewJob
from .._validate import validate_headers

__all__ = ["TracingHooks"]

logger = logging.getLogger("queue_core.tracing")

_FAILED = {Outcome.DEAD_LETTERED, Outcome.DROPPED, Outcome.LEASE_LOST, Outcome.UNKNOWN}
_SpanKey = tuple[str, str, int]
_Attached = tuple[_SpanKey, Token[otel_context.Context]]


def _version() -> str | None:
    try:
        from importlib.metadata import version

        return version("queue-toolkit")
    except Exception:
        return None


class TracingHooks(Hooks):
    """OpenTelemetry spans for every enqueue and every attempt.

    * On enqueue (``before_enqueue``), a ``PRODUCER`` span named
      ``enqueue <topic>`` starts as a child of the caller's current span;
      its context is injected into the job's headers (W3C ``traceparent``
      and ``tracestate`` with the default propagator). It ends when the
      driver call returns (``after_enqueue``), with an error status if it
      raised, and ``qtk.created`` telling whether the job was created.
    * Per attempt (``before_job``), a ``CONSUMER`` span named
      ``process <topic>`` starts, linked to the producer's span context
      read from the headers; with ``child_of_producer=True`` it is also its
      child (one trace from enqueue through every attempt). While an async
      handler runs, the span is the current span, so the handler's own
      spans are its children. It ends when the attempt is settled
      (``after_job``): outcome in ``qtk.outcome``; error status for a
      failure (retried, dead-lettered, dropped, lease lost, unknown), with
      the exception recorded.

    Attributes follow the OpenTelemetry messaging semantic conventions:
    ``messaging.system`` (``system``), ``messaging.destination.name``,
    ``messaging.operation.type`` (``send``/``process``),
    ``messaging.operation.name`` (``enqueue``/``process``),
    ``messaging.message.id``, ``messaging.message.body.size``; plus
    ``qtk.job.attempt``, ``qtk.job.max_attempts``, ``qtk.job.priority``.

    ``tracer_provider``: default the global one. ``propagator``: default
    the global one (``opentelemetry.propagate``). When injecting would break
    the header limits (see :func:`~queue_core.validate_headers`), the job
    keeps its headers and its consumer spans have no link. At most
    ``max_open`` spans wait for their end; past it the oldest is ended.
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        *,
        propagator: TextMapPropagator | None = None,
        system: str = "queue_toolkit",
        child_of_producer: bool = False,
        max_open: int = 10_000,
    ) -> None:
        if isinstance(max_open, bool) or not isinstance(max_open, int) or max_open < 1:
            raise InvalidArgument("max_open must be an int >= 1")
        if not isinstance(system, str) or not system:
            raise InvalidArgument("system must be a non-empty str")
        self._tracer = trace.get_tracer(
            "queue_core.tracing", _version(), tracer_provider=tracer_provider
        )
        self._propagator = propagator
        self._system = system
        self._child = child_of_producer
        self._max_open = max_open
        self._producing: OrderedDict[tuple[str, str], list[Span]] = OrderedDict()
        self._n_producing = 0
        self._lock = threading.Lock()
        self._processing: OrderedDict[_SpanKey, Span] = OrderedDict()
        # the span a worker task made current: (job key, context token)
        self._attached: weakref.WeakKeyDictionary[
            asyncio.Task[object], tuple[_SpanKey, Token[otel_context.Context]]
        ]
        self._attached = weakref.WeakKeyDictionary()

    # -- propagation ------------------------------------------------------------

    def _inject(self, carrier: dict[str, str], span: Span) -> None:
        ctx = trace.set_span_in_context(span)
        if self._propagator is None:
            propagate.inject(carrier, context=ctx)
        else:
            self._propagator.inject(carrier, context=ctx)

    def _extract(self, job: Job) -> otel_context.Context:
        carrier = dict(job.headers)
        if self._propagator is None:
            return propagate.extract(carrier, context=otel_context.Context())
        return self._propagator.extract(carrier, context=otel_context.Context())

    # -- producing ----------------------------------------------------------------

    def before_enqueue(self, topic: str, job: NewJob) -> NewJob:
        span = self._tracer.start_span(
            f"enqueue {topic}",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": self._system,
                "messaging.destination.name": topic,
                "messaging.operation.type": "send",
                "messaging.operation.name": "enqueue",
                "messaging.message.id": job.id,
                "messaging.message.body.size": len(job.payload),
                "qtk.job.priority": job.priority,
                "qtk.job.max_attempts": job.max_attempts,
            },
        )
        with self._lock:  # SyncQueueService runs enqueue hooks in its callers' threads
            self._producing.setdefault((topic, job.id), []).append(span)
            self._n_producing += 1
            while self._n_producing > self._max_open:
                self._evict_producer()
        headers = dict(job.headers)
        self._inject(headers, span)
        try:
            validate_headers(headers)
        except InvalidArgument as exc:
            logger.debug("trace context not injected into %s/%s: %s", topic, job.id, exc)
            return job
        return dataclasses.replace(job, headers=headers)

    def _evict_producer(self) -> None:
        key, spans = next(iter(self._producing.items()))
        span = spans.pop(0)
        if not spans:
            del self._producing[key]
        self._n_producing -= 1
        span.set_attribute("qtk.unfinished", True)
        span.end()

    def after_enqueue(
        self,
        topic: str,
        jobs: Sequence[NewJob],
        created: Sequence[bool] | None,
        error: BaseException | None,
    ) -> None:
        for index, job in enumerate(jobs):
            with self._lock:
                spans = self._producing.get((topic, job.id))
                if not spans:
                    continue
                span = spans.pop(0)
                if not spans:
                    del self._producing[(topic, job.id)]
                self._n_producing -= 1
            if created is not None:
                span.set_attribute("qtk.created", bool(created[index]))
            if error is not None:
                span.record_exception(error)
                span.set_attribute("error.type", type(error).__qualname__)
                span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            span.end()

    # -- consuming ------------------------------------------------------------------

    @staticmethod
    def _key(job: Job) -> _SpanKey:
        return (job.topic, job.id, job.fencing_token)

    def before_job(self, job: Job) -> None:
        producer = self._extract(job)
        producer_span = trace.get_current_span(producer).get_span_context()
        links = [Link(producer_span)] if producer_span.is_valid else []
        parent = producer if self._child and producer_span.is_valid else otel_context.Context()
        span = self._tracer.start_span(
            f"process {job.topic}",
            context=parent,
            kind=SpanKind.CONSUMER,
            links=links,
            attributes={
                "messaging.system": self._system,
                "messaging.destination.name": job.topic,
                "messaging.operation.type": "process",
                "messaging.operation.name": "process",
                "messaging.message.id": job.id,
                "messaging.message.body.size": len(job.payload),
                "qtk.job.attempt": job.attempt,
                "qtk.job.max_attempts": job.max_attempts,
                "qtk.job.priority": job.priority,
            },
        )
        key = self._key(job)
        stale = self._processing.pop(key, None)
        if stale is not None:
            stale.end()
        self._processing[key] = span
        while len(self._processing) > self._max_open:
            _, oldest = self._processing.popitem(last=False)
            oldest.set_attribute("qtk.unfinished", True)
            oldest.end()
        task = asyncio.current_task()
        if task is not None:
            self._detach(task)  # the previous job's, if the runtime settled it elsewhere
            token = otel_context.attach(trace.set_span_in_context(span))
            self._attached[task] = (key, token)

    def _detach(self, task: asyncio.Task[object], key: _SpanKey | None = None) -> None:
        attached = self._attached.get(task)
        if attached is None or (key is not None and attached[0] != key):
            return
        del self._attached[task]
        otel_context.detach(attached[1])

    def after_job(
        self, job: Job, outcome: Outcome, error: BaseException | None, duration: float
    ) -> None:
        key = self._key(job)
        task = asyncio.current_task()
        if task is not None:
            self._detach(task, key)
        span = self._processing.pop(key, None)
        if span is None:
            return  # released before it ran: no attempt, no span
        span.set_attribute("qtk.outcome", outcome.value)
        failed = outcome in _FAILED or outcome is Outcome.RETRIED
        if error is not None and outcome is not Outcome.CANCELLED:
            span.record_exception(error)
            span.set_attribute("error.type", type(error).__qualname__)
        if failed:
            if error is None:
                description = outcome.value
                span.set_attribute("error.type", outcome.value)
            else:
                description = f"{type(error).__name__}: {error}"
            span.set_status(Status(StatusCode.ERROR, description))
        span.end()
