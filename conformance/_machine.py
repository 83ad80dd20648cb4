"""The core of the kit: a Hypothesis state machine that drives the driver
under test and the executable specification (:class:`~._spec.SpecDriver`,
which shares no code with any driver) side by side, under one
:class:`~queue_core.FakeClock`, and requires every observable result to agree.

Hypothesis rules are synchronous, so the machine owns an
:class:`asyncio.Runner` and runs each driver call on it (one loop for the
whole example, so clients bound to a loop keep working). Every call has a
time limit: a driver call that hangs fails the step with its name.
"""

from __future__ import annotations

import asyncio
import bisect
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from queue_core import (
    DEAD_SUFFIX,
    MAX_PRIORITY,
    MIN_PRIORITY,
    Driver,
    FakeClock,
    Job,
    JobState,
    NewJob,
    QueueError,
    TopicLimits,
)

from ._harness import Harness
from ._spec import SpecDriver

__all__ = ["OutOfTime", "QueueMachine", "machine_for"]

T = TypeVar("T")

RATE_PER = 2.0  # the rate window of every limit the machine sets (see set_limits)

PRIORITIES = st.one_of(
    st.sampled_from([0, 0, 0, 1, -1, 7, MIN_PRIORITY, MAX_PRIORITY, MIN_PRIORITY + 1]),
    st.integers(MIN_PRIORITY, MAX_PRIORITY),
)
PAYLOADS = st.one_of(
    st.sampled_from([b"", b"\x00", b"\xff\xfe\x00\x01", "é{x}:\n".encode()]),
    st.binary(max_size=24),
)
DELAYS_MS = st.one_of(st.sampled_from([0, 0, 1, 2, 999, 1000, 60_000]), st.integers(0, 5_000))
# explicit ids often (half the jobs), from a few odd ones, so that they
# collide: duplicates, idempotency records, reuse after an end
EXPLICIT_IDS = st.one_of(
    st.none(),
    st.sampled_from(["j1", "j2", "{tag}", "a:b:dead", "x%y\\z"]),
)
# header maps, by index (so that a failing step prints short): separators,
# quotes, non-ASCII and astral characters, empty values, long values
HEADER_MAPS: tuple[dict[str, str], ...] = (
    {},
    {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
    {"a": "", "b.c-d_e": 'ünï "q" \\ | : = , ; 𝄞'},
    {"tenant": "t1", "k": "x" * 300, "Z9": " spaced "},
)
HEADERS = st.integers(0, len(HEADER_MAPS) - 1)
WINDOWS_MS = st.sampled_from([0, 0, 1, 1_000, 5_000, 60_000])
LEASES_MS = st.one_of(st.sampled_from([1, 100, 1_000, 30_000]), st.integers(1, 5_000))
ERRORS = st.one_of(st.none(), st.sampled_from(["boom", "", "ünïcode: {x}\n\tline 2"]))
PICKS = st.integers(0, 10**6)
LIMITS = st.tuples(st.sampled_from([None, 1, 2, 3]), st.sampled_from([None, 1, 2, 5]))

# (payload, priority, delay_ms, explicit id or None, max_attempts, delay is an
#  absolute run_at, headers index, idempotency window ms)
JobSpec = tuple[bytes, int, int, str | None, int, bool, int, int]
JOB_SPECS = st.tuples(
    PAYLOADS,
    PRIORITIES,
    DELAYS_MS,
    EXPLICIT_IDS,
    st.integers(1, 3),
    st.booleans(),
    HEADERS,
    WINDOWS_MS,
)


class OutOfTime(BaseException):
    """Raised before a driver call once the machine's ``deadline`` has
    passed: a ``BaseException``, so Hypothesis stops at once instead of
    treating it as a failure of the example (and shrinking it)."""


@dataclass(frozen=True, slots=True)
class Lease:
    """One claim, as both drivers saw it."""

    topic: str
    job_id: str
    model_token: str
    sut_token: str


def view(job: Job | None) -> tuple[Any, ...] | None:
    """Every observable field of a job except its tokens (the lease token
    is driver-specific, the fencing token is compared by :class:`Fences`)."""
    if job is None:
        return None
    return (
        job.id,
        job.topic,
        job.payload,
        job.priority,
        job.attempt,
        job.max_attempts,
        job.enqueued_at,
        job.run_at,
        job.state,
        job.last_error,
        job.lease_deadline,
        job.lease_token is not None,
        dict(job.headers),
    )


def family(topic: str) -> str:
    while topic.endswith(DEAD_SUFFIX):
        topic = topic[: -len(DEAD_SUFFIX)]
    return topic


@dataclass
class Fences:
    """Fencing tokens need not equal the specification's numbers, only be
    an order-preserving image of them, per topic family: the same
    specification value always maps to the same driver value and back, a
    larger one to a larger one, and 0 (never claimed) to 0."""

    pairs: dict[str, dict[int, int]] = field(default_factory=dict)
    keys: dict[str, list[int]] = field(default_factory=dict)

    def match(self, topic: str, spec: int, sut: int, where: str) -> None:
        name = family(topic)
        pairs = self.pairs.setdefault(name, {})
        keys = self.keys.setdefault(name, [])
        if spec == 0 or sut == 0:
            assert spec == sut == 0, f"{where}: fencing token {sut}, expected " + (
                "0 (never claimed)" if spec == 0 else "a claimed job's token (> 0)"
            )
            return
        if spec in pairs:
            assert pairs[spec] == sut, (
                f"{where}: fencing token {sut} where the same claim showed {pairs[spec]} before "
                "(a job keeps its fencing token until its next claim)"
            )
            return
        taken = {value: key for key, value in pairs.items()}
        assert sut not in taken, (
            f"{where}: fencing token {sut} was already issued in family {name!r} to another "
            "claim (tokens must strictly increase with every claim)"
        )
        at = bisect.bisect(keys, spec)
        if at > 0:
            below = pairs[keys[at - 1]]
            assert sut > below, (
                f"{where}: fencing token {sut} is not above {below}, issued by an earlier "
                f"claim in family {name!r} (tokens must strictly increase with every claim)"
            )
        if at < len(keys):
            above = pairs[keys[at]]
            assert sut < above, (
                f"{where}: fencing token {sut} is not below {above}, issued by a later claim "
                f"in family {name!r}"
            )
        keys.insert(at, spec)
        pairs[spec] = sut


class QueueMachine(RuleBasedStateMachine):
    """Subclassed per harness by :func:`machine_for`."""

    harness: ClassVar[Harness]
    deadline: ClassVar[float | None] = None  # time.monotonic() after which calls stop
    call_seconds: ClassVar[float] = 10.0  # the longest one driver call may take

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.clock = FakeClock(start=1_800_000_000.0)
        self.sut: Driver = self.runner.run(self.harness.make_driver(self.clock))
        caps = self.sut.capabilities
        self.caps = caps
        self.model: Driver = SpecDriver(
            self.clock,
            records=caps.idempotency_records,
            cancellation=caps.cancellation,
            limits=caps.limits,
            list_topics=caps.list_topics,
        )
        self.base = "m" + uuid.uuid4().hex[:10]
        self.sources = [self.base + "a", self.base + "b"]
        self.claimable = [*self.sources, self.sources[0] + DEAD_SUFFIX]
        self.all_topics = [
            *self.claimable,
            self.sources[1] + DEAD_SUFFIX,
            self.sources[0] + DEAD_SUFFIX + DEAD_SUFFIX,
        ]
        self.leases: list[Lease] = []
        self.ids: list[str] = []
        self.generated = 0
        self.fences = Fences()

    def teardown(self) -> None:
        try:
            self.runner.run(self.sut.close())
            self.runner.run(self.model.close())
            self.runner.run(self.harness.cleanup())
        finally:
            self.runner.close()

    # -- comparing ------------------------------------------------------------

    def run(self, coro: Awaitable[T], what: str = "a driver call") -> T:
        if self.deadline is not None and time.monotonic() > self.deadline:
            if asyncio.iscoroutine(coro):
                coro.close()
            raise OutOfTime

        seconds = self.call_seconds

        async def wrap() -> T:
            try:
                async with asyncio.timeout(seconds):
                    return await coro
            except TimeoutError:
                raise AssertionError(
                    f"{what} did not return within {seconds:g} s (a hung driver call)"
                ) from None

        return self.runner.run(wrap())

    def both(
        self, what: str, call: Callable[[Driver, bool], Awaitable[T]]
    ) -> tuple[T | None, T | None]:
        """Run ``call`` on the specification, then the driver; both must
        raise the same error type or both succeed."""
        results: list[T | None] = []
        errors: list[QueueError | None] = []
        for driver, is_model in ((self.model, True), (self.sut, False)):
            try:
                results.append(self.run(call(driver, is_model), what))
                errors.append(None)
            except QueueError as exc:
                results.append(None)
                errors.append(exc)
        model_error, sut_error = (type(e).__name__ if e else None for e in errors)
        assert model_error == sut_error, (
            f"{what}: the specification "
            f"{'raises ' + model_error if model_error else 'succeeds'}, the driver "
            f"{'raised ' + sut_error + f' ({errors[1]})' if sut_error else 'succeeded'}"
        )
        return results[0], results[1]

    def same(self, what: str, method: str, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        """:meth:`both` for a plain driver method call."""
        return self.both(what, lambda d, _: getattr(d, method)(*args, **kwargs))

    def jobs_agree(self, what: str, model: Sequence[Job], sut: Sequence[Job]) -> None:
        """Same jobs in the same order with the same fields; fencing tokens
        an order-preserving image of the specification's."""
        model_views, sut_views = [view(j) for j in model], [view(j) for j in sut]
        assert sut_views == model_views, (
            f"{what}: the driver returned\n  {sut_views}\nthe specification expects\n"
            f"  {model_views}\n(fields: id, topic, payload, priority, attempt, max_attempts, "
            "enqueued_at, run_at, state, last_error, lease_deadline, has a lease token, headers)"
        )
        for m, s in zip(model, sut, strict=True):
            self.fences.match(s.topic, m.fencing_token, s.fencing_token, f"{what}, job {s.id}")

    def pick(self, picks: Sequence[int]) -> list[Lease]:
        chosen = [self.leases[p % len(self.leases)] for p in picks]
        topic = chosen[0].topic
        return [lease for lease in chosen if lease.topic == topic]

    def token(self, lease: Lease, is_model: bool, forged: bool) -> str:
        if forged:
            return "forged-token"
        return lease.model_token if is_model else lease.sut_token

    # -- rules ----------------------------------------------------------------
    # Hypothesis picks rules uniformly, so the busiest operations (enqueue,
    # claim, settle with a live lease) get extra entry points.

    @initialize(
        first=st.lists(JOB_SPECS, min_size=1, max_size=8),
        second=st.lists(JOB_SPECS, max_size=3),
    )
    def seed(self, first: list[JobSpec], second: list[JobSpec]) -> None:
        self.enqueue(0, first)
        if second:
            self.enqueue(1, second)

    @rule(specs=st.lists(JOB_SPECS, min_size=1, max_size=3))
    def enqueue_first(self, specs: list[JobSpec]) -> None:
        self.enqueue(0, specs)

    @rule(max_jobs=st.integers(1, 3), lease_ms=LEASES_MS)
    def claim_first(self, max_jobs: int, lease_ms: int) -> None:
        self.claim(0, max_jobs, lease_ms)

    @precondition(lambda self: self.leases)
    @rule(forge=st.booleans())
    def ack_latest(self, forge: bool) -> None:
        self.ack([len(self.leases) - 1], forge)

    @precondition(lambda self: self.leases)
    @rule(error=ERRORS)
    def dead_letter_latest(self, error: str | None) -> None:
        self.dead_letter(len(self.leases) - 1, error, False)

    @precondition(lambda self: self.leases)
    @rule(delay_ms=DELAYS_MS, error=ERRORS)
    def retry_latest(self, delay_ms: int, error: str | None) -> None:
        self.retry(len(self.leases) - 1, delay_ms, error, False)

    @precondition(lambda self: self.leases)
    @rule(lease_ms=LEASES_MS)
    def extend_latest(self, lease_ms: int) -> None:
        self.extend(len(self.leases) - 1, lease_ms, False)

    @precondition(lambda self: self.leases)
    @rule()
    def release_latest(self) -> None:
        self.release(len(self.leases) - 1, False)

    @rule(ms=st.sampled_from([1, 100, 1_000, 5_000]))
    def advance_a_bit(self, ms: int) -> None:
        self.clock.advance(ms / 1000.0)

    @rule(topic=st.integers(0, 1), specs=st.lists(JOB_SPECS, min_size=1, max_size=4))
    def enqueue(self, topic: int, specs: list[JobSpec]) -> None:
        name = self.sources[topic]
        jobs = []
        for payload, priority, delay_ms, job_id, attempts, absolute, headers, window in specs:
            if job_id is None:
                self.generated += 1
                job_id = f"g{self.generated}"
            when: dict[str, Any] = (
                {"run_at": self.clock.now() + (delay_ms - 500) / 1000.0}
                if absolute
                else {"delay": delay_ms / 1000.0}
            )
            jobs.append(
                NewJob(
                    id=job_id,
                    payload=payload,
                    priority=priority,
                    max_attempts=attempts,
                    headers=HEADER_MAPS[headers],
                    idempotency_window=window / 1000.0,
                    **when,
                )
            )
            if job_id not in self.ids:
                self.ids.append(job_id)
        model, sut = self.both(f"enqueue({name})", lambda d, _: d.enqueue(name, jobs))
        assert model == sut, (
            f"enqueue({name}, ids {[j.id for j in jobs]}) created {sut}, "
            f"the specification creates {model}"
        )

    @rule(topic=st.integers(0, 2), max_jobs=st.integers(1, 4), lease_ms=LEASES_MS)
    def claim(self, topic: int, max_jobs: int, lease_ms: int) -> None:
        name = self.claimable[topic]
        model, sut = self.both(
            f"claim({name}, max_jobs={max_jobs})",
            lambda d, _: d.claim(name, max_jobs=max_jobs, lease=lease_ms / 1000.0),
        )
        self.took(name, max_jobs, model or [], sut or [])

    def took(self, name: str, max_jobs: int, model: list[Job], sut: list[Job]) -> None:
        """Compare what both drivers claimed and keep the leases."""
        self.jobs_agree(f"claim({name}, max_jobs={max_jobs})", model, sut)
        tokens = {j.lease_token for j in sut}
        assert len(tokens) == len(sut), "two jobs of one claim got the same lease token"
        for m, s in zip(model, sut, strict=True):
            assert m.lease_token
            assert s.lease_token, f"claim returned {s.id} without a lease token"
            self.leases.append(Lease(name, m.id, m.lease_token, s.lease_token))
        del self.leases[:-30]

    @precondition(lambda self: self.leases)
    @rule(
        picks=st.lists(PICKS, min_size=1, max_size=3),
        forge=st.booleans(),
        max_jobs=st.integers(0, 3),
        lease_ms=LEASES_MS,
    )
    def ack_and_claim(self, picks: list[int], forge: bool, max_jobs: int, lease_ms: int) -> None:
        leases = self.pick(picks)
        name = leases[0].topic

        def call(d: Driver, is_model: bool) -> Awaitable[Any]:
            pairs = [
                (lease.job_id, self.token(lease, is_model, forge and i == 0))
                for i, lease in enumerate(leases)
            ]
            return d.ack_and_claim(name, pairs, max_jobs=max_jobs, lease=lease_ms / 1000.0)

        model, sut = self.both(f"ack_and_claim({name})", call)
        assert model is not None
        assert sut is not None
        assert sut[0] == model[0], (
            f"ack_and_claim({name}) settled {sut[0]}, the specification settles {model[0]}"
        )
        self.took(name, max_jobs, model[1], sut[1])

    @precondition(lambda self: self.leases)
    @rule(picks=st.lists(PICKS, min_size=1, max_size=3), forge=st.booleans())
    def ack(self, picks: list[int], forge: bool) -> None:
        leases = self.pick(picks)
        name = leases[0].topic

        def call(d: Driver, is_model: bool) -> Awaitable[Any]:
            pairs = [
                (lease.job_id, self.token(lease, is_model, forge and i == 0))
                for i, lease in enumerate(leases)
            ]
            return d.ack_many(name, pairs)

        model, sut = self.both(f"ack_many({name})", call)
        assert model == sut, f"ack_many({name}) returned {sut}, the specification {model}"

    @precondition(lambda self: self.leases)
    @rule(pick=PICKS, lease_ms=LEASES_MS, forge=st.booleans())
    def extend(self, pick: int, lease_ms: int, forge: bool) -> None:
        (lease,) = self.pick([pick])
        model, sut = self.both(
            f"extend({lease.topic}/{lease.job_id})",
            lambda d, m: d.extend(
                lease.topic, lease.job_id, self.token(lease, m, forge), lease_ms / 1000.0
            ),
        )
        assert model == sut, f"extend returned deadline {sut}, the specification {model}"

    @precondition(lambda self: self.leases)
    @rule(pick=PICKS, delay_ms=DELAYS_MS, error=ERRORS, forge=st.booleans())
    def retry(self, pick: int, delay_ms: int, error: str | None, forge: bool) -> None:
        (lease,) = self.pick([pick])
        self.both(
            f"retry({lease.topic}/{lease.job_id}, error={error!r})",
            lambda d, m: d.retry(
                lease.topic,
                lease.job_id,
                self.token(lease, m, forge),
                delay=delay_ms / 1000.0,
                error=error,
            ),
        )

    @precondition(lambda self: self.leases)
    @rule(pick=PICKS, forge=st.booleans())
    def release(self, pick: int, forge: bool) -> None:
        (lease,) = self.pick([pick])
        self.both(
            f"release({lease.topic}/{lease.job_id})",
            lambda d, m: d.release(lease.topic, lease.job_id, self.token(lease, m, forge)),
        )

    @precondition(lambda self: self.leases)
    @rule(pick=PICKS, error=ERRORS, forge=st.booleans())
    def dead_letter(self, pick: int, error: str | None, forge: bool) -> None:
        (lease,) = self.pick([pick])
        self.both(
            f"dead_letter({lease.topic}/{lease.job_id})",
            lambda d, m: d.dead_letter(
                lease.topic, lease.job_id, self.token(lease, m, forge), error=error
            ),
        )

    @rule(ms=st.one_of(st.sampled_from([1, 999, 1_000, 30_000]), st.integers(0, 6_000)))
    def advance_clock(self, ms: int) -> None:
        self.clock.advance(ms / 1000.0)

    @rule(topic=st.integers(0, 2), limit=st.integers(1, 5))
    def reap(self, topic: int, limit: int) -> None:
        name = self.claimable[topic]
        model, sut = self.both(f"reap({name})", lambda d, _: d.reap(name, limit=limit))
        assert model == sut, (
            f"reap({name}, limit={limit}) moved {sut} jobs, the specification {model}"
        )

    @precondition(lambda self: self.leases)
    @rule(picks=st.sets(PICKS, max_size=5))
    def crash_consumer(self, picks: set[int]) -> None:
        """A consumer dies: the leases it held are forgotten (they expire)."""
        drop = {p % len(self.leases) for p in picks} if picks else set(range(len(self.leases)))
        self.leases = [lease for i, lease in enumerate(self.leases) if i not in drop]

    def chosen_ids(self, picks: list[int] | None) -> list[str] | None:
        if picks is None or not self.ids:
            return None
        return [self.ids[p % len(self.ids)] for p in picks]

    @rule(topic=st.integers(0, 1), picks=st.one_of(st.none(), st.lists(PICKS, max_size=3)))
    def redrive(self, topic: int, picks: list[int] | None) -> None:
        name = self.sources[topic]
        ids = self.chosen_ids(picks)
        model, sut = self.both(f"redrive({name}, {ids})", lambda d, _: d.redrive(name, ids))
        assert model == sut, f"redrive({name}, {ids}) moved {sut}, the specification {model}"

    @rule(topic=st.integers(0, 4), picks=st.one_of(st.none(), st.lists(PICKS, max_size=3)))
    def purge(self, topic: int, picks: list[int] | None) -> None:
        name = self.all_topics[topic]
        ids = self.chosen_ids(picks)
        model, sut = self.both(f"purge({name}, {ids})", lambda d, _: d.purge(name, ids))
        assert model == sut, f"purge({name}, {ids}) deleted {sut}, the specification {model}"

    @precondition(lambda self: self.ids)
    @rule(topic=st.integers(0, 4), pick=PICKS)
    def get(self, topic: int, pick: int) -> None:
        name = self.all_topics[topic]
        job_id = self.ids[pick % len(self.ids)]
        model, sut = self.both(f"get({name}/{job_id})", lambda d, _: d.get(name, job_id))
        self.jobs_agree(f"get({name}/{job_id})", [model] if model else [], [sut] if sut else [])

    @rule(
        topic=st.integers(0, 4),
        state=st.sampled_from(list(JobState)),
        limit=st.integers(1, 3),
        offset=st.integers(0, 2),
    )
    def list_page(self, topic: int, state: JobState, limit: int, offset: int) -> None:
        name = self.all_topics[topic]
        what = f"list_jobs({name}, {state.value}, limit={limit}, offset={offset})"
        model, sut = self.same(what, "list_jobs", name, state, limit=limit, offset=offset)
        self.jobs_agree(what, model or [], sut or [])

    @precondition(lambda self: self.caps.cancellation and self.ids)
    @rule(topic=st.integers(0, 4), picks=st.lists(PICKS, min_size=1, max_size=3))
    def cancel(self, topic: int, picks: list[int]) -> None:
        name = self.all_topics[topic]
        ids = self.chosen_ids(picks) or []
        model, sut = self.both(f"cancel({name}, {ids})", lambda d, _: d.cancel(name, ids))
        assert sut == model, f"cancel({name}, {ids}) returned {sut}, the specification {model}"

    @precondition(lambda self: self.caps.limits)
    @rule(topic=st.integers(0, 2), limits=LIMITS)
    def set_limits(self, topic: int, limits: tuple[int | None, int | None]) -> None:
        """Limits with one rate window per run (how a changed ``per``
        treats past claims is left open by the contract)."""
        name = self.claimable[topic]
        chosen = TopicLimits(max_in_flight=limits[0], rate=limits[1], per=RATE_PER)
        self.same(f"set_limits({name}, {chosen})", "set_limits", name, chosen)
        model, sut = self.same(f"get_limits({name})", "get_limits", name)
        assert sut == model, f"get_limits({name}) = {sut} after set_limits({chosen})"

    # -- invariants -------------------------------------------------------------

    @invariant()
    def states_agree(self) -> None:
        """Counts (with oldest_due_at), and every job in every state (in
        order), match the specification: each job in exactly one state,
        none lost or duplicated."""
        for name in self.all_topics:
            model_counts, sut_counts = self.same(f"counts({name})", "counts", name)
            assert sut_counts == model_counts, (
                f"counts({name}) = {sut_counts}, the specification expects {model_counts}"
            )
            seen: set[str] = set()
            for state in JobState:
                what = f"list_jobs({name}, {state.value}, limit=1000)"
                model, sut = self.same(what, "list_jobs", name, state, limit=1000)
                self.jobs_agree(f"the {state.value} jobs of {name}", model or [], sut or [])
                ids = {j.id for j in sut or []}
                assert not ids & seen, f"{name}: jobs in two states at once: {ids & seen}"
                seen |= ids
            if self.caps.cancellation and self.ids:
                model, sut = self.same(
                    f"cancel_requested({name})", "cancel_requested", name, self.ids
                )
                assert sorted(set(sut or [])) == sorted(set(model or [])), (
                    f"cancel_requested({name}) = {sut}, the specification {model}"
                )
        if self.caps.list_topics:
            model, sut = self.same("topics()", "topics")
            mine = [t for t in sut or [] if t.startswith(self.base)]
            assert mine == model, (
                f"topics() lists {mine} of this run's topics, the specification {model} "
                "(every topic that had a job, sorted, without :dead suffixes)"
            )
        note(f"t={self.clock.now():.3f} leases={len(self.leases)} ids={len(self.ids)}")


def machine_for(
    harness: Harness, *, deadline: float | None = None, call_seconds: float = 10.0
) -> type[QueueMachine]:
    """A :class:`QueueMachine` subclass bound to ``harness``; with
    ``deadline`` (a ``time.monotonic()`` instant) its calls stop with
    :class:`OutOfTime` after it; a driver call taking longer than
    ``call_seconds`` fails the step."""
    attrs = {"harness": harness, "deadline": deadline, "call_seconds": call_seconds}
    # one name for every harness: Hypothesis derives a derandomized run's seed
    # from it, so every driver meets the same walks
    return type("KitMachine", (QueueMachine,), attrs)
