"""Counters and histograms fed by the runtime's hooks."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from .._clock import Clock, SystemClock
from .._errors import InvalidArgument
from .._hooks import Hooks, Outcome
from .._job import Job, NewJob

__all__ = ["PrometheusHooks"]

logger = logging.getLogger("queue_core.metrics")

DURATION_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
)  # fmt: skip
DELAY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0,
)  # fmt: skip
OTHER_TOPICS = "_other"


class PrometheusHooks(Hooks):
    """Prometheus counters and histograms for every job event, by topic.

    Install it on a service (``QueueService(driver, hooks=[PrometheusHooks()])``
    or ``service.add_hook(...)``); its metrics are registered on
    ``registry`` (default: ``prometheus_client.REGISTRY``), so one instance
    per registry. Labels are ``topic`` and, where it applies, ``outcome``
    (the values of :class:`~queue_core.Outcome`); never job ids. After
    ``max_topics`` distinct topics, further ones share the topic label
    ``_other`` (a warning is logged once), so a service that makes topics
    on the fly cannot grow the series without bound.

    * ``qtk_jobs_enqueued_total{topic}``: jobs created by enqueue calls.
    * ``qtk_enqueue_duplicates_total{topic}``: enqueues that created nothing
      (an explicit job id that exists, or ended within its window).
    * ``qtk_enqueue_errors_total{topic}``: jobs whose enqueue call raised
      (the job may or may not exist).
    * ``qtk_jobs_claimed_total{topic}``: jobs claimed by this process's consumers.
    * ``qtk_job_attempts_total{topic,outcome}``: attempts that ended, by
      outcome (acked, retried, dead_lettered, dropped, released, cancelled,
      lease_lost, unknown).
    * ``qtk_leases_lost_total{topic}``: leases the backend refused (on
      renewal or settle): the job had expired and moved on.
    * ``qtk_settle_failures_total{topic}``: settle calls the runtime gave up
      on (no answer from the backend: the outcome is unknown).
    * ``qtk_job_duration_seconds{topic,outcome}``: from the handler's start
      to the end of the settle call (the runtime's monotonic clock).
    * ``qtk_job_start_delay_seconds{topic}``: from the moment the attempt
      became due (``max(job.enqueued_at, job.run_at)``, on the backend's
      clock) to the handler's start (on ``clock``, this process's wall
      clock by default). Clock skew between the two shifts it; negative
      values count as 0.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        clock: Clock | None = None,
        max_topics: int = 1000,
        duration_buckets: Sequence[float] = DURATION_BUCKETS,
        delay_buckets: Sequence[float] = DELAY_BUCKETS,
    ) -> None:
        if isinstance(max_topics, bool) or not isinstance(max_topics, int) or max_topics < 1:
            raise InvalidArgument("max_topics must be an int >= 1")
        registry = REGISTRY if registry is None else registry
        self._clock = clock or SystemClock()
        self._max_topics = max_topics
        self._series: dict[str, _Series] = {}  # a topic's labelled children
        self._warned = False
        topic = ("topic",)
        both = ("topic", "outcome")
        self.enqueued = Counter(
            "qtk_jobs_enqueued", "Jobs created by enqueue calls.", topic, registry=registry
        )
        self.duplicates = Counter(
            "qtk_enqueue_duplicates",
            "Enqueues that created nothing: the explicit job id exists or ended within "
            "its idempotency window.",
            topic,
            registry=registry,
        )
        self.enqueue_errors = Counter(
            "qtk_enqueue_errors",
            "Jobs whose enqueue call raised (the job may or may not exist).",
            topic,
            registry=registry,
        )
        self.claimed = Counter(
            "qtk_jobs_claimed",
            "Jobs claimed by this process's consumers.",
            topic,
            registry=registry,
        )
        self.attempts = Counter(
            "qtk_job_attempts",
            "Attempts that ended, by outcome.",
            both,
            registry=registry,
        )
        self.leases_lost = Counter(
            "qtk_leases_lost",
            "Leases the backend refused on renewal or settle (the job had moved on).",
            topic,
            registry=registry,
        )
        self.settle_failures = Counter(
            "qtk_settle_failures",
            "Settle calls the runtime gave up on: the outcome is unknown.",
            topic,
            registry=registry,
        )
        self.duration = Histogram(
            "qtk_job_duration_seconds",
            "Time from a handler's start to the end of its settle call.",
            both,
            buckets=tuple(duration_buckets),
            registry=registry,
        )
        self.start_delay = Histogram(
            "qtk_job_start_delay_seconds",
            "Time from the moment an attempt became due to its handler's start.",
            topic,
            buckets=tuple(delay_buckets),
            registry=registry,
        )

    def _of(self, topic: str) -> _Series:
        """The topic's metric children, labelled once (``labels()`` costs
        more than the ``inc``/``observe`` of every job)."""
        series = self._series.get(topic)
        if series is not None:
            return series
        label = topic
        if len(self._series) >= self._max_topics:
            if not self._warned:
                self._warned = True
                logger.warning(
                    "more than %d topics: further topics are counted as topic=%r",
                    self._max_topics,
                    OTHER_TOPICS,
                )
            label = OTHER_TOPICS
            if label in self._series:
                return self._series[label]
        series = _Series(self, label)  # every outcome series exists from the start, at 0
        self._series[label] = series
        return series

    # -- hooks ----------------------------------------------------------------

    def after_enqueue(
        self,
        topic: str,
        jobs: Sequence[NewJob],
        created: Sequence[bool] | None,
        error: BaseException | None,
    ) -> None:
        series = self._of(topic)
        if created is None:
            series.enqueue_errors.inc(len(jobs))
            return
        made = sum(1 for flag in created if flag)
        series.enqueued.inc(made)
        if made < len(created):
            series.duplicates.inc(len(created) - made)

    def on_claimed(self, topic: str, jobs: Sequence[Job]) -> None:
        self._of(topic).claimed.inc(len(jobs))

    def before_job(self, job: Job) -> None:
        due = max(job.enqueued_at, job.run_at)
        self._of(job.topic).start_delay.observe(max(0.0, self._clock.now() - due))

    def after_job(
        self, job: Job, outcome: Outcome, error: BaseException | None, duration: float
    ) -> None:
        series = self._of(job.topic)
        series.attempts[outcome].inc()
        series.duration_of(outcome).observe(max(0.0, duration))

    def on_lease_lost(self, job: Job) -> None:
        self._of(job.topic).leases_lost.inc()

    def on_settle_unknown(self, job: Job, error: BaseException) -> None:
        self._of(job.topic).settle_failures.inc()


class _Series:
    """One topic label's children of every metric of :class:`PrometheusHooks`."""

    def __init__(self, hooks: PrometheusHooks, label: str) -> None:
        self._hooks, self._label = hooks, label
        self.enqueued = hooks.enqueued.labels(label)
        self.duplicates = hooks.duplicates.labels(label)
        self.enqueue_errors = hooks.enqueue_errors.labels(label)
        self.claimed = hooks.claimed.labels(label)
        self.start_delay = hooks.start_delay.labels(label)
        self.leases_lost = hooks.leases_lost.labels(label)
        self.settle_failures = hooks.settle_failures.labels(label)
        self.attempts = {o: hooks.attempts.labels(label, o.value) for o in Outcome}
        self._duration: dict[Outcome, Any] = {}  # only the outcomes seen (many buckets each)

    def duration_of(self, outcome: Outcome) -> Any:
        child = self._duration.get(outcome)
        if child is None:
            child = self._duration[outcome] = self._hooks.duration.labels(
                self._label, outcome.value
            )
        return child
