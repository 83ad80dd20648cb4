"""Scenario checks: what goes in comes out, in the right order, once."""

from __future__ import annotations

import asyncio

from queue_core import (
    MAX_PRIORITY,
    MIN_PRIORITY,
    Driver,
    EnqueueOptions,
    InvalidArgument,
    JobState,
    NewJob,
    PayloadTooLarge,
)

from ._context import KitContext, check, only

__all__: list[str] = []


async def claim_all(
    driver: Driver, topic: str, *, lease: float = 60.0, batch: int = 1, most: int = 10_000
) -> list[str]:
    """Claim until nothing is due; return ids in claim order. Fails when a
    claim returns more than ``batch`` jobs or more than ``most`` jobs come
    out in all (a driver that hands out jobs forever cannot hang the check)."""
    order: list[str] = []
    while len(order) <= most:
        try:
            async with asyncio.timeout(5):
                jobs = await driver.claim(topic, max_jobs=batch, lease=lease)
        except TimeoutError:
            raise AssertionError(
                f"claim(max_jobs={batch}) did not return within 5 s (with {len(order)} jobs "
                "claimed so far): claim must never wait for work"
            ) from None
        assert len(jobs) <= batch, f"claim(max_jobs={batch}) returned {len(jobs)} jobs"
        if not jobs:
            return order
        order += [job.id for job in jobs]
    raise AssertionError(f"claimed more than {most} jobs from {topic}, where {most} at most exist")


@check(1, 2)
async def check_payload_round_trip(ctx: KitContext) -> None:
    """Empty, non-UTF-8, NUL-laden and exactly-the-limit payloads come back
    byte-identical; one byte over the limit is PayloadTooLarge and writes nothing."""
    driver = await ctx.driver(fake_clock=False)
    service = await ctx.service(driver)
    topic = ctx.topic("payload")
    limit = driver.capabilities.max_payload_bytes
    cases = [b"", b"\x00", bytes(range(256)), b"\xff\xfe\xfd", "ü{}:*".encode(), b"x" * limit]
    ids = [await service.enqueue(topic, payload) for payload in cases]
    ids.append(await service.enqueue(topic, bytearray(b"bytearray")))
    ids.append(await service.enqueue(topic, memoryview(b"memoryview")))
    expected = dict(zip(ids, [*cases, b"bytearray", b"memoryview"], strict=True))
    for bad in (b"y" * (limit + 1),):
        try:
            await service.enqueue(topic, bad)
        except PayloadTooLarge:
            pass
        else:
            raise AssertionError("a payload one byte over the limit was accepted")
    for bad_type in ("text", 5, None):
        try:
            await service.enqueue(topic, bad_type)  # type: ignore[arg-type]
        except InvalidArgument:
            pass
        else:
            raise AssertionError(f"a {type(bad_type).__name__} payload was accepted")
    counts = await driver.counts(topic)
    assert counts.ready == len(expected), f"expected {len(expected)} ready jobs, got {counts}"
    got = {job.id: job.payload for job in await driver.claim(topic, max_jobs=100, lease=60)}
    for job_id, payload in expected.items():
        assert job_id in got, f"job {job_id} was not claimable"
        assert got[job_id] == payload, (
            f"payload of {len(payload)} bytes came back as {got[job_id][:40]!r}..."
        )
        assert type(got[job_id]) is bytes, "payloads must come back as bytes"


@check(2)
async def check_topic_names(ctx: KitContext) -> None:
    """Every valid topic shape works (dots, dashes, 128 characters, dead-letter
    suffixes); invalid names are rejected before anything is written."""
    driver = await ctx.driver(fake_clock=False)
    service = await ctx.service(driver)
    base = ctx.topic("names")
    for topic in (base + ".a-b_c", (base + "x" * 128)[:128], base + ":dead", base + "Z9"):
        job_id = await service.enqueue(topic, b"p")
        jobs = await driver.claim(topic, max_jobs=5, lease=30)
        assert [job.id for job in jobs] == [job_id], f"topic {topic!r} lost its job"
        assert jobs[0].topic == topic
    for bad in ("", "a b", "{a}", "a\n", "tab\t", "x" * 129, "é", "a:b", "a}"):
        try:
            await service.enqueue(bad, b"p")
        except InvalidArgument as exc:
            assert isinstance(exc, ValueError)
        else:
            raise AssertionError(f"invalid topic {bad!r} was accepted")


@check(3)
async def check_priority_then_fifo_within_one_millisecond(ctx: KitContext) -> None:
    """Thousands of jobs enqueued within one millisecond, across the whole
    priority range: claimed by priority, then exactly in enqueue order."""
    driver = await ctx.driver()
    topic = ctx.topic("order")
    priorities = [0, 1, -1, MAX_PRIORITY, MIN_PRIORITY, 2**31 - 2, -(2**31) + 1, 7, 0, 2**20]
    # ids in an order unrelated to enqueue order (7919 is prime to 3000), so a
    # driver that breaks ties by id instead of by sequence is caught
    jobs = [
        NewJob(id=f"o{(i * 7919) % 3000:05d}", payload=b"", priority=priorities[i % 10])
        for i in range(3000)
    ]
    batch = driver.capabilities.max_batch
    for start in range(0, 2000, batch):
        await driver.enqueue(topic, jobs[start : min(start + batch, 2000)])
    for job in jobs[2000:]:  # single enqueues too
        await driver.enqueue(topic, [job])
    expected = [job.id for job in sorted(jobs, key=lambda j: -j.priority)]  # stable: FIFO
    order = await claim_all(driver, topic, batch=37)
    assert len(order) == len(expected), f"claimed {len(order)} of {len(expected)}"
    pairs = enumerate(zip(order, expected, strict=True))
    first_wrong = next((i for i, (a, b) in pairs if a != b), None)
    assert first_wrong is None, (
        f"claim order diverges at position {first_wrong}: got {order[first_wrong]}, "
        f"expected {expected[first_wrong]}"
    )


@check(3, 4)
async def check_delayed_high_priority_never_blocks_ready_jobs(ctx: KitContext) -> None:
    """A delayed top-priority job does not hold back due low-priority jobs,
    and is not claimable one millisecond before its run-at."""
    driver = await ctx.driver()
    topic = ctx.topic("inversion")
    await driver.enqueue(topic, [NewJob(id="late", payload=b"", priority=MAX_PRIORITY, delay=5.0)])
    await driver.enqueue(
        topic, [NewJob(id=f"low{i}", payload=b"", priority=MIN_PRIORITY) for i in range(3)]
    )
    order = await claim_all(driver, topic)
    assert order == ["low0", "low1", "low2"], f"due jobs claimed as {order}"
    ctx.clock.advance(4.999)
    assert await driver.claim(topic, max_jobs=1, lease=1) == [], "claimed 1 ms before run_at"
    ctx.clock.advance(0.001)
    jobs = await driver.claim(topic, max_jobs=1, lease=1)
    assert [job.id for job in jobs] == ["late"], (
        f"the delayed job was not claimable at its run_at (claim returned {[j.id for j in jobs]})"
    )


@check(3, 4)
async def check_due_time_orders_equal_priorities(ctx: KitContext) -> None:
    """Equal priority goes by the time each job became due: run-at for
    delayed jobs, enqueue time for immediate ones; explicit run_at in the past
    means now."""
    driver = await ctx.driver()
    topic = ctx.topic("due")
    now = ctx.clock.now()
    await driver.enqueue(topic, [NewJob(id="d3", payload=b"", delay=3.0)])
    await driver.enqueue(topic, [NewJob(id="d1", payload=b"", delay=1.0)])
    await driver.enqueue(topic, [NewJob(id="past", payload=b"", run_at=now - 100)])
    ctx.clock.advance(2.0)
    await driver.enqueue(topic, [NewJob(id="now2", payload=b"")])
    await driver.enqueue(topic, [NewJob(id="at25", payload=b"", run_at=now + 2.5)])
    ctx.clock.advance(2.0)
    order = await claim_all(driver, topic)
    assert order == ["past", "d1", "now2", "at25", "d3"], f"claim order {order}"


@check(10)
async def check_idempotent_enqueue(ctx: KitContext) -> None:
    """An explicit id that exists in the topic (scheduled, ready or in
    flight) creates nothing and returns the existing id; other topics are
    independent; 50 concurrent enqueues of one id create one job."""
    driver = await ctx.driver()
    service = await ctx.service(driver)
    topic, other = ctx.topic("idem"), ctx.topic("idem-other")
    for job_id, options in (
        ("sched", EnqueueOptions(job_id="sched", delay=60)),
        ("ready", EnqueueOptions(job_id="ready")),
        ("held", EnqueueOptions(job_id="held", priority=9)),
    ):
        assert await service.enqueue(topic, b"first", options) == job_id
    await driver.claim(topic, max_jobs=1, lease=60)  # "held" is in flight now
    for job_id in ("sched", "ready", "held"):
        created = await driver.enqueue(topic, [NewJob(id=job_id, payload=b"second")])
        assert created == [False], f"a second {job_id!r} was created"
        job = await driver.get(topic, job_id)
        assert job is not None
        assert job.payload == b"first", f"{job_id!r} was overwritten"
    total = (await driver.counts(topic)).total
    assert total == 3, f"{total} jobs after re-enqueueing three existing ids"
    in_other = await driver.enqueue(other, [NewJob(id="ready", payload=b"")])
    assert in_other == [True], (
        f"an id taken in one topic created {in_other} in another (topics are independent)"
    )
    same = await driver.enqueue(
        topic, [NewJob(id="dup", payload=b""), NewJob(id="dup", payload=b"")]
    )
    assert same == [True, False], f"duplicate ids within one call gave {same}"
    results = await asyncio.gather(
        *(driver.enqueue(topic, [NewJob(id="race", payload=b"")]) for _ in range(50))
    )
    made = sum(r[0] for r in results)
    assert made == 1, f"50 concurrent enqueues of one id created {made} jobs"
    total = (await driver.counts(topic)).total
    assert total == 5, f"{total} jobs in the topic, expected 5"


@check(12)
async def check_topic_isolation(ctx: KitContext) -> None:
    """Nothing done to one topic changes another's jobs or counts."""
    driver = await ctx.driver()
    a, b = ctx.topic("iso-a"), ctx.topic("iso-b")
    await driver.enqueue(b, [NewJob(id=f"b{i}", payload=b"b", delay=i) for i in range(3)])
    before = await driver.counts(b)
    listed = [await driver.list_jobs(b, state) for state in JobState]
    await driver.enqueue(a, [NewJob(id=f"b{i}", payload=b"a") for i in range(3)])
    held = await driver.claim(a, max_jobs=2, lease=1)
    await driver.ack_many(a, [(held[0].id, held[0].lease_token or "")])
    assert len(held) == 2, f"claim(max_jobs=2) of 3 ready jobs returned {len(held)}"
    await driver.dead_letter(a, held[1].id, held[1].lease_token or "", error="x")
    await driver.redrive(a)
    await driver.purge(a)
    await driver.purge(a, ["b1", "b2"])
    ctx.clock.advance(10)
    await driver.reap(a)
    await driver.claim(a, max_jobs=10, lease=1)
    assert await driver.counts(b) == before, "another topic's counts changed"
    after = [await driver.list_jobs(b, state) for state in JobState]
    assert [[j.id for j in s] for s in after] == [[j.id for j in s] for s in listed], (
        "another topic's jobs changed"
    )


@check(4, 8, 10)
async def check_reused_id_gets_a_fresh_schedule(ctx: KitContext) -> None:
    """A job id used again after its job was purged or acked is a new job:
    the new job's delay holds, and nothing of the old one leaks into it
    (payload, priority, attempt, last error, headers)."""
    driver = await ctx.driver()
    topic = ctx.topic("reuse")
    await driver.enqueue(
        topic, [NewJob(id="again", payload=b"old", priority=5, headers={"old": "1"})]
    )
    assert await driver.purge(topic) == 1
    await driver.enqueue(topic, [NewJob(id="again", payload=b"new", delay=60)])
    assert await driver.claim(topic, max_jobs=1, lease=1) == [], "claimed a delayed job early"
    ctx.clock.advance(60)
    job = only(await driver.claim(topic, max_jobs=1, lease=1), "claim of the reused id")
    fields = (job.payload, job.priority, job.attempt, job.last_error, dict(job.headers))
    assert fields == (b"new", 0, 1, None, {}), (
        f"a job reusing a purged job's id shows (payload, priority, attempt, last_error, "
        f"headers) = {fields}, expected (b'new', 0, 1, None, {{}})"
    )
    await driver.retry(topic, "again", job.lease_token or "", delay=0, error="failed once")
    job = only(await driver.claim(topic, max_jobs=1, lease=1), "claim after a retry")
    assert await driver.ack(topic, "again", job.lease_token or "") is True, "the ack failed"
    created = await driver.enqueue(topic, [NewJob(id="again", payload=b"third", delay=5)])
    assert created == [True], (
        f"an enqueue of an acked job's id (window 0) returned {created}: the acked job is "
        "still there, or its id is remembered"
    )
    fresh = await driver.get(topic, "again")
    assert fresh is not None, "the re-enqueued job is missing"
    assert fresh.last_error is None, (
        f"a new job reusing an acked job's id inherited its last_error {fresh.last_error!r}"
    )
    assert await driver.claim(topic, max_jobs=1, lease=1) == [], "claimed a delayed job early"
    ctx.clock.advance(5)
    job = only(await driver.claim(topic, max_jobs=1, lease=1), "claim of the third job")
    assert (job.payload, job.attempt, job.last_error) == (b"third", 1, None), (
        f"the third job with this id is {(job.payload, job.attempt, job.last_error)}, "
        "expected (b'third', 1, None)"
    )


@check(2)
async def check_bad_input_is_rejected_before_any_write(ctx: KitContext) -> None:
    """The service rejects bad input (ids, priorities, delays, headers,
    idempotency windows, max attempts) with InvalidArgument before anything
    is written; the driver then accepts every valid extreme."""
    driver = await ctx.driver()
    service = await ctx.service(driver)
    topic = ctx.topic("input")
    bad: list[tuple[str, dict[str, object]]] = [
        ("an empty id", {"job_id": ""}),
        ("an id with a space", {"job_id": "a b"}),
        ("an id of 129 characters", {"job_id": "x" * 129}),
        ("a priority above int32", {"priority": 2**31}),
        ("a negative delay", {"delay": -1.0}),
        ("a NaN delay", {"delay": float("nan")}),
        ("a header with a control character", {"headers": {"k": "a\nb"}}),
        ("a header with a bad name", {"headers": {"a b": "v"}}),
        ("a non-string header value", {"headers": {"k": 5}}),
        ("65 headers", {"headers": {f"h{i}": "v" for i in range(65)}}),
        ("a negative idempotency window", {"job_id": "w", "idempotency_window": -1.0}),
        ("max_attempts 0", {"max_attempts": 0}),
    ]
    for what, fields in bad:
        try:
            options = EnqueueOptions(**fields)  # type: ignore[arg-type]
            await service.enqueue(topic, b"p", options)
        except InvalidArgument:
            continue
        raise AssertionError(f"an enqueue with {what} was accepted")
    counts = await driver.counts(topic)
    assert counts.total == 0, f"rejected enqueues wrote jobs: {counts}"
    extremes = EnqueueOptions(
        job_id="~" * 128,
        priority=MIN_PRIORITY,
        headers={f"h{i}": "v" * 200 for i in range(64)},
        max_attempts=2**31 - 1,
        idempotency_window=0,
    )
    job_id = await service.enqueue(topic, b"", extremes)
    job = await driver.get(topic, job_id)
    assert job is not None, "an enqueue of valid extremes (128-char id, 64 headers) was lost"
    assert (job.priority, job.max_attempts, len(job.headers)) == (MIN_PRIORITY, 2**31 - 1, 64), (
        f"valid extremes came back as priority {job.priority}, max_attempts "
        f"{job.max_attempts}, {len(job.headers)} headers"
    )
