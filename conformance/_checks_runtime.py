"""Scenario checks through the portable service: concurrency, renewal,
wake-up, close, backoff, restart. These use real time and a few seconds."""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter

from queue_core import (
    Closed,
    Driver,
    Hooks,
    Job,
    JobState,
    NewJob,
    QueueOptions,
    RetryPolicy,
    SubscribeOptions,
)

from ._context import RUNTIME, KitContext, KitSkip, check, only, wait_for

__all__: list[str] = []


async def _counts_are(driver: Driver, topic: str, **expected: int) -> bool:
    """Whether ``driver.counts(topic)`` shows the ``expected`` fields
    (``total`` included)."""
    counts = await driver.counts(topic)
    return all(getattr(counts, name) == value for name, value in expected.items())


async def within(
    seconds: float, what: str, awaitable: asyncio.Future[None] | asyncio.Event
) -> None:
    try:
        async with asyncio.timeout(seconds):
            if isinstance(awaitable, asyncio.Event):
                await awaitable.wait()
            else:
                await awaitable
    except TimeoutError:
        raise AssertionError(f"timed out after {seconds}s waiting for {what}") from None


@check(5, 12, tier=RUNTIME)
async def check_concurrent_consumers_run_each_job_once(ctx: KitContext) -> None:
    """Four consumers, five handlers each, 400 jobs: every job runs exactly
    once, never two at a time, none lost."""
    driver = await ctx.driver(fake_clock=False)
    service = await ctx.service(driver)
    topic = ctx.topic("many")
    total = 400
    await service.enqueue_many(topic, [str(i).encode() for i in range(total)])
    runs: Counter[str] = Counter()
    running: set[str] = set()
    overlaps: list[str] = []
    done = asyncio.Event()

    async def handler(job: Job) -> None:
        if job.id in running:
            overlaps.append(job.id)
        running.add(job.id)
        await asyncio.sleep(0.001)
        running.discard(job.id)
        runs[job.id] += 1
        if len(runs) == total:
            done.set()

    options = SubscribeOptions(concurrency=5, batch_size=3, lease=30)
    consumers = [await service.subscribe(topic, handler, options) for _ in range(4)]
    await within(60, f"{total} jobs to run", done)
    for consumer in consumers:
        await consumer.wait_idle()
    assert not overlaps, f"jobs ran twice at once: {overlaps[:5]}"
    twice = [job_id for job_id, n in runs.items() if n > 1]
    assert not twice, f"jobs ran more than once: {twice[:5]}"
    assert (await driver.counts(topic)).total == 0, "jobs left behind after every ack"


@check(5)
async def check_concurrent_claims_are_disjoint(ctx: KitContext) -> None:
    """Twenty concurrent claimers over 300 jobs never get the same job."""
    driver = await ctx.driver(fake_clock=False)
    topic = ctx.topic("claims")
    await driver.enqueue(topic, [NewJob(id=f"c{i}", payload=b"") for i in range(300)])
    claimed: list[str] = []

    async def claimer() -> None:
        while jobs := await driver.claim(topic, max_jobs=5, lease=60):
            claimed.extend(job.id for job in jobs)

    await asyncio.gather(*(claimer() for _ in range(20)))
    assert len(claimed) == len(set(claimed)), "one job was handed to two claimers"
    assert len(claimed) == 300, f"{300 - len(claimed)} jobs were not claimable"


@check(7, tier=RUNTIME)
async def check_runtime_renews_long_handlers(ctx: KitContext) -> None:
    """A handler running for three lease periods keeps its job: no
    redelivery to a second consumer, acked once at the end."""
    driver = await ctx.driver(fake_clock=False)
    service = await ctx.service(driver)
    topic = ctx.topic("renew")
    calls: list[int] = []
    finished = asyncio.Event()

    async def slow(job: Job) -> None:
        calls.append(job.attempt)
        await asyncio.sleep(1.8)
        finished.set()

    options = SubscribeOptions(concurrency=1, lease=0.6, poll_interval=0.1)
    await service.subscribe(topic, slow, options)
    await service.subscribe(topic, slow, options)
    await service.enqueue(topic, b"long")
    await within(10, "the long handler", finished)
    await wait_for(lambda: _counts_are(driver, topic, total=0), 5, "the ack")
    assert calls == [1], f"the long job was delivered {len(calls)} times: attempts {calls}"


@check(15, tier=RUNTIME)
async def check_wakeup_latency(ctx: KitContext) -> None:
    """An idle consumer starts a newly enqueued job within a second (p max of
    ten tries), even with a long poll interval."""
    driver = await ctx.driver(fake_clock=False)
    if not driver.capabilities.push_wakeup:
        raise KitSkip("needs capabilities.push_wakeup")
    service = await ctx.service(driver)
    topic = ctx.topic("latency")
    loop = asyncio.get_running_loop()
    started: asyncio.Queue[float] = asyncio.Queue()

    async def handler(job: Job) -> None:
        started.put_nowait(loop.time())

    consumer = await service.subscribe(topic, handler, SubscribeOptions(poll_interval=4.5))
    latencies = []
    for _ in range(10):
        await consumer.wait_idle()
        await asyncio.sleep(0.05)  # let the consumer block in wait()
        sent = loop.time()
        await service.enqueue(topic, b"ping")
        try:
            async with asyncio.timeout(5):
                latencies.append(await started.get() - sent)
        except TimeoutError:
            raise AssertionError("an idle consumer did not start a new job within 5 s") from None
    worst = max(latencies)
    assert worst < 1.0, (
        f"enqueue-to-start latency up to {worst:.3f}s (median {statistics.median(latencies):.3f}s)"
    )


@check(15, tier=RUNTIME)
async def check_chain_wakeup_of_idle_consumers(ctx: KitContext) -> None:
    """Five idle consumers and five jobs enqueued at once: all five start
    together (one wake-up must not wake only one consumer)."""
    driver = await ctx.driver(fake_clock=False)
    service = await ctx.service(driver)
    topic = ctx.topic("chain")
    arrived: set[str] = set()
    everyone = asyncio.Event()

    async def handler(job: Job) -> None:
        arrived.add(job.id)
        if len(arrived) == 5:
            everyone.set()
        async with asyncio.timeout(5):
            await everyone.wait()

    options = SubscribeOptions(concurrency=1, prefetch=0, poll_interval=4.5)
    consumers = [await service.subscribe(topic, handler, options) for _ in range(5)]
    for consumer in consumers:
        await consumer.wait_idle()
    await asyncio.sleep(0.05)
    await service.enqueue_many(topic, [b"a", b"b", b"c", b"d", b"e"])
    await within(3, f"all five jobs to start together (started: {len(arrived)})", everyone)


@check(13, 14, tier=RUNTIME)
async def check_close_drains_then_releases(ctx: KitContext) -> None:
    """close(grace) lets a running handler finish and acks it; a handler
    still running after the grace has its job released without using up an
    attempt, claimable at once; operations after close raise Closed."""
    driver = await ctx.driver(fake_clock=False)
    service = await ctx.service(driver)
    topic = ctx.topic("close")
    entered, proceed = asyncio.Event(), asyncio.Event()

    async def polite(job: Job) -> None:
        entered.set()
        await proceed.wait()

    consumer = await service.subscribe(topic, polite, SubscribeOptions(concurrency=1))
    await service.enqueue(topic, b"finish me")
    await within(5, "the handler to start", entered)
    closing = asyncio.ensure_future(consumer.close(grace=5))
    await asyncio.sleep(0.05)
    proceed.set()
    await within(6, "close() with a finishing handler", closing)
    assert (await driver.counts(topic)).total == 0, "the finished job was not acked on close"

    entered.clear()

    async def stubborn(job: Job) -> None:
        entered.set()
        await asyncio.Event().wait()

    consumer = await service.subscribe(topic, stubborn, SubscribeOptions(concurrency=1))
    job_id = await service.enqueue(topic, b"release me")
    await within(5, "the handler to start", entered)
    await within(5, "close() past its grace", asyncio.ensure_future(consumer.close(grace=0.2)))
    job = await driver.get(topic, job_id)
    assert job is not None, "a job held at close was lost"
    assert job.state is JobState.READY, f"released job is {job.state}, not ready"
    assert job.attempt == 0, f"the release used up an attempt (attempt {job.attempt})"
    again = only(await driver.claim(topic, max_jobs=1, lease=5), "claim of the released job")
    assert again.id == job_id, f"claimed {again.id}, not the released {job_id}"
    await service.close()
    for what, call in (
        ("enqueue", service.enqueue(topic, b"x")),
        ("counts", service.counts(topic)),
    ):
        try:
            await call
        except Closed:
            continue
        raise AssertionError(f"{what} after close did not raise Closed")
    await driver.close()
    try:
        await driver.claim(topic, max_jobs=1, lease=1)
    except Closed:
        pass
    else:
        raise AssertionError("claim on a closed driver did not raise Closed")


class _Failures(Hooks):
    def __init__(self) -> None:
        self.retried: asyncio.Queue[tuple[Job, float]] = asyncio.Queue()

    def on_retry(self, job: Job, delay: float, error: BaseException | None) -> None:
        self.retried.put_nowait((job, delay))


@check(8, tier=RUNTIME)
async def check_backoff_bounds_and_dead_letter(ctx: KitContext) -> None:
    """A failing handler is retried after a capped, jittered exponential
    backoff on the driver's clock, with the error recorded; after
    max_attempts the job is dead-lettered."""
    driver = await ctx.driver()
    policy = RetryPolicy(initial_delay=2.0, multiplier=3.0, max_delay=10.0, jitter=0.5)
    hooks = _Failures()
    service = await ctx.service(
        driver, options=QueueOptions(retry=policy, max_attempts=4), hooks=[hooks]
    )
    topic = ctx.topic("backoff")

    async def failing(job: Job) -> None:
        raise RuntimeError(f"attempt {job.attempt} failed")

    await service.subscribe(topic, failing, SubscribeOptions(poll_interval=0.05))
    job_id = await service.enqueue(topic, b"doomed")
    for attempt in (1, 2, 3):
        try:
            async with asyncio.timeout(10):
                job, delay = await hooks.retried.get()
        except TimeoutError:
            raise AssertionError(f"attempt {attempt} was not retried within 10 s") from None
        low, high = policy.bounds(attempt)
        assert low <= delay <= high, f"attempt {attempt}: delay {delay} outside [{low}, {high}]"
        stored = await driver.get(topic, job_id)
        assert stored is not None
        assert stored.last_error == f"RuntimeError: attempt {attempt} failed"
        assert abs(stored.run_at - (ctx.clock.now() + delay)) <= 0.0015, (
            f"retry due at {stored.run_at}, expected now + {delay}"
        )
        ctx.clock.set(max(stored.run_at, ctx.clock.now()))  # exactly its due time
    await wait_for(lambda: _counts_are(driver, topic, dead=1), 10, "the dead letter")
    dead = only(await service.list_dead(topic), "the dead letters")
    assert (dead.id, dead.attempt, dead.last_error) == (job_id, 4, "RuntimeError: attempt 4 failed")


@check(9, tier=RUNTIME)
async def check_dead_letter_topic_is_subscribable(ctx: KitContext) -> None:
    """Dead letters can be consumed like any topic."""
    driver = await ctx.driver(fake_clock=False)
    service = await ctx.service(driver)
    topic = ctx.topic("dlq-sub")
    await driver.enqueue(topic, [NewJob(id="x", payload=b"dead", max_attempts=1)])
    job = only(await driver.claim(topic, max_jobs=1, lease=30), "claim of a fresh job")
    await driver.dead_letter(topic, "x", job.lease_token or "", error="gave up")
    seen = asyncio.Event()

    async def handler(dead: Job) -> None:
        assert dead.payload == b"dead"
        seen.set()

    await service.subscribe(topic + ":dead", handler)
    await within(5, "the dead letter to be consumed", seen)
    await wait_for(lambda: _counts_are(driver, topic, dead=0), 5, "the dead letter's ack")


@check(12, tier=RUNTIME)
async def check_restart_keeps_every_job(ctx: KitContext) -> None:
    """(restartable backends) Jobs enqueued before a backend restart are all
    there after it, in the same states."""
    if not ctx.harness.restartable:
        raise KitSkip("the harness is not restartable")
    driver = await ctx.driver(fake_clock=False)
    topic = ctx.topic("restart")
    await driver.enqueue(
        topic, [NewJob(id=f"r{i}", payload=b"r", delay=(i % 2) * 60) for i in range(200)]
    )
    await ctx.harness.restart()
    for _ in range(50):
        try:
            counts = await driver.counts(topic)
            break
        except Exception:
            await asyncio.sleep(0.1)
    else:
        raise AssertionError("the driver did not recover within 5 s after the restart")
    assert (counts.ready, counts.scheduled) == (100, 100), f"after restart: {counts}"


@check(14, tier=RUNTIME)
async def check_wait_is_bounded_and_cancellable(ctx: KitContext) -> None:
    """wait() returns within its timeout (plus a second) on an empty topic,
    and returns promptly when cancelled."""
    driver = await ctx.driver(fake_clock=False)
    topic = ctx.topic("wait")
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.wait_for(driver.wait(topic, 0.3), 5)
    assert loop.time() - start < 1.3, "wait() overran its timeout by more than a second"
    task = asyncio.ensure_future(driver.wait(topic, 30))
    await asyncio.sleep(0.1)
    task.cancel()
    start = loop.time()
    await asyncio.wait([task], timeout=2)
    assert task.done(), "wait() ignored cancellation"
    assert loop.time() - start < 1.0
