"""Gauges per topic, read from the service at scrape time."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .._clock import Clock, SystemClock
from .._errors import InvalidArgument, Unsupported
from .._job import Counts
from .._overview import counts_of
from .._service import QueueService
from .._validate import validate_topic

__all__ = ["QueueCollector"]

logger = logging.getLogger("queue_core.metrics")

STATES = ("scheduled", "ready", "in_flight", "dead")


@dataclass(slots=True)
class _Snapshot:
    taken_at: float = 0.0  # monotonic; 0: never
    ok: bool = False
    duration: float = 0.0
    counts: list[tuple[str, Counts, float]] = field(default_factory=list)  # topic, counts, lag


class QueueCollector(Collector):
    """A Prometheus collector of per-topic gauges, gathered from
    :meth:`~queue_core.QueueService.counts` when scraped (one call per
    topic, from the backend's indexes: no scan of job data).

    * ``qtk_topic_jobs{topic,state}``: jobs by state (scheduled, ready,
      in_flight, dead: the topic's dead letters).
    * ``qtk_topic_lag_seconds{topic}``: the age of the oldest due job
      (``now - Counts.oldest_due_at``; 0 when nothing is due), the lag to
      alert on. ``now`` is ``clock`` (this process's wall clock by default);
      the due time is the backend's clock.
    * ``qtk_backend_up``: 1 when the last collection read every topic, else
      0 (a failing backend never fails the scrape: the topic gauges of the
      failed reads are left out and this gauge drops to 0).
    * ``qtk_collect_errors_total``: collections that failed (wholly or for a
      topic); ``qtk_collect_duration_seconds``: how long the last one took.

    ``topics``: the topics to report; empty means every topic of
    :meth:`~queue_core.QueueService.topics` (re-listed at most every
    ``topics_ttl`` seconds; a driver that cannot list topics gives
    ``qtk_backend_up 0`` and a logged error: pass the topics then). At most
    ``max_topics`` topics are read. A collection is reused for
    ``cache_ttl`` seconds, so frequent scrapes cost nothing more.

    The service's calls run on ``loop``, the event loop the service runs on
    (default: the running loop when the collector is made). A scrape from
    another thread (the HTTP server's) waits at most ``timeout`` seconds for
    them; a scrape on the loop's own thread cannot wait for the loop and
    reports the last collection (call :meth:`refresh` first there).
    """

    def __init__(
        self,
        service: QueueService,
        topics: Sequence[str] = (),
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        cache_ttl: float = 2.0,
        topics_ttl: float = 30.0,
        timeout: float = 5.0,
        max_topics: int = 500,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(service, QueueService):
            raise InvalidArgument("service must be a queue_core.QueueService")
        if isinstance(topics, str):
            raise InvalidArgument("topics must be a sequence of topic names, not a str")
        self._service = service
        self._topics = [validate_topic(topic) for topic in topics]
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise InvalidArgument(
                    "make the QueueCollector on the event loop the service runs on, or pass loop="
                ) from None
        self._loop = loop
        for name, value in (("cache_ttl", cache_ttl), ("topics_ttl", topics_ttl)):
            if not 0.0 <= value <= 3600.0:
                raise InvalidArgument(f"{name} must be within [0, 3600] seconds")
        if not 0.0 < timeout <= 300.0:
            raise InvalidArgument("timeout must be within (0, 300] seconds")
        if isinstance(max_topics, bool) or not isinstance(max_topics, int) or max_topics < 1:
            raise InvalidArgument("max_topics must be an int >= 1")
        self._cache_ttl = cache_ttl
        self._topics_ttl = topics_ttl
        self._timeout = timeout
        self._max_topics = max_topics
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._snapshot = _Snapshot()
        self._errors = 0
        self._listed: list[str] = []
        self._listed_at = 0.0
        self._warned_truncated = False

    # -- gathering --------------------------------------------------------------

    async def refresh(self) -> None:
        """Collect now, on the running loop (the service's)."""
        # no lock here: a scrape thread may hold it while it waits for this loop
        self._store(await self._gather())

    def _store(self, snapshot: _Snapshot) -> None:
        if not snapshot.ok:
            self._errors += 1
        self._snapshot = snapshot

    async def _topic_names(self) -> list[str]:
        if self._topics:
            return self._topics
        now = time.monotonic()
        if not self._listed_at or now - self._listed_at >= self._topics_ttl:
            self._listed = await self._service.topics()
            self._listed_at = now
        return self._listed

    async def _gather(self) -> _Snapshot:
        started = time.monotonic()
        snapshot = _Snapshot(ok=True)
        try:
            names = await self._topic_names()
        except Unsupported:
            logger.error(
                "the driver cannot list topics: give the metrics collector its topics explicitly"
            )
            names, snapshot.ok = [], False
        except Exception as exc:
            logger.warning("metrics: listing topics failed: %s", exc)
            names, snapshot.ok = [], False
        if len(names) > self._max_topics:
            if not self._warned_truncated:
                self._warned_truncated = True
                logger.warning(
                    "metrics: %d topics; reporting the first %d", len(names), self._max_topics
                )
            names = names[: self._max_topics]
        results = await counts_of(self._service, names)
        now = self._clock.now()
        for name, result in results.items():
            if isinstance(result, Exception):
                logger.warning("metrics: counts(%r) failed: %s", name, result)
                snapshot.ok = False
                continue
            snapshot.counts.append((name, result, result.lag(now) or 0.0))
        snapshot.taken_at = time.monotonic()
        snapshot.duration = snapshot.taken_at - started
        return snapshot

    def _current(self) -> _Snapshot:
        """A collection no older than ``cache_ttl``, made now if needed."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop or self._loop.is_closed():
            return self._snapshot  # cannot wait for our own loop (nor for the lock)
        with self._lock:
            snapshot = self._snapshot
            if snapshot.taken_at and time.monotonic() - snapshot.taken_at < self._cache_ttl:
                return snapshot
            started = time.monotonic()
            future = asyncio.run_coroutine_threadsafe(self._gather(), self._loop)
            try:
                fresh = future.result(self._timeout)
            except concurrent.futures.TimeoutError:
                future.cancel()
                logger.warning("metrics: collection timed out after %.1fs", self._timeout)
                fresh = _Snapshot(ok=False, duration=time.monotonic() - started)
                fresh.taken_at = time.monotonic()
            except Exception as exc:
                logger.warning("metrics: collection failed: %s", exc)
                fresh = _Snapshot(ok=False, duration=time.monotonic() - started)
                fresh.taken_at = time.monotonic()
            self._store(fresh)
            return fresh

    # -- the Collector interface ----------------------------------------------

    def describe(self) -> Iterable[Metric]:
        """The metric names, without collecting (so registering never
        calls the backend)."""
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        snapshot = self._current()
        jobs, lag, up, errors, duration = self._families()
        for topic, counts, topic_lag in snapshot.counts:
            for state in STATES:
                jobs.add_metric([topic, state], getattr(counts, state))
            lag.add_metric([topic], topic_lag)
        up.add_metric([], 1.0 if snapshot.ok and snapshot.taken_at else 0.0)
        errors.add_metric([], self._errors)
        duration.add_metric([], snapshot.duration)
        return [jobs, lag, up, errors, duration]

    @staticmethod
    def _families() -> tuple[
        GaugeMetricFamily,
        GaugeMetricFamily,
        GaugeMetricFamily,
        CounterMetricFamily,
        GaugeMetricFamily,
    ]:
        return (
            GaugeMetricFamily(
                "qtk_topic_jobs", "Jobs of a topic by state.", labels=["topic", "state"]
            ),
            GaugeMetricFamily(
                "qtk_topic_lag_seconds",
                "Age of the topic's oldest due job (0 when none is due).",
                labels=["topic"],
            ),
            GaugeMetricFamily(
                "qtk_backend_up", "1 if the last collection read every topic, else 0."
            ),
            CounterMetricFamily(
                "qtk_collect_errors", "Collections that failed (wholly or partly)."
            ),
            GaugeMetricFamily("qtk_collect_duration_seconds", "How long the last collection took."),
        )
