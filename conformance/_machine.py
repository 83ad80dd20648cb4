"""The core of the kit: a Hypothesis state machine that drives the driver
under test and :class:`queue_memory.MemoryDriver` side by side, under one
:class:`~queue_core.FakeClock`, and requires every observable result to agree.

Hypothesis rules are synchronous, so the machine owns an
:class:`asyncio.Runner` and runs each driver call on it (one loop for the
whole example, so clients bound to a loop keep working).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
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
)
from queue_memory import MemoryDriver

from ._harness import Harness

__all__ = ["QueueMachine", "machine_for"]

T = TypeVar("T")

PRIORITIES = st.one_of(
    st.sampled_from([0, 0, 0, 1, -1, 7, MIN_PRIORITY, MAX_PRIORITY, MIN_PRIORITY + 1]),
    st.integers(MIN_PRIORITY, MAX_PRIORITY),
)
PAYLOADS = st.one_of(
    st.sampled_from([b"", b"\x00", b"\xff\xfe\x00\x01", "é{x}:\n".encode()]),
    st.binary(max_size=24),
)
DELAYS_MS = st.one_of(st.sampled_from([0, 0, 1, 2, 999, 1000, 60_000]), st.integers(0, 5_000))
EXPLICIT_IDS = st.one_of(
    st.none(),
    st.none(),
    st.sampled_from(["j1", "j2", "j3", "{tag}", "a:b:dead", "x%y\\z", "9"]),
)
LEASES_MS = st.one_of(st.sampled_from([1, 100, 1_000, 30_000]), st.integers(1, 5_000))
ERRORS = st.one_of(st.none(), st.sampled_from(["boom", "", "ünïcode: {x}\n\tline 2"]))
PICKS = st.integers(0, 10**6)

JobSpec = tuple[bytes, int, int, str | None, int, bool]
JOB_SPECS = st.tuples(
    PAYLOADS, PRIORITIES, DELAYS_MS, EXPLICIT_IDS, st.integers(1, 3), st.booleans()
)


@dataclass(frozen=True, slots=True)
class Lease:
    """One claim, as both drivers saw it."""

    topic: str
    job_id: str
    model_token: str
    sut_token: str


def view(job: Job | None) -> tuple[Any, ...] | None:
    """Every observable field of a job except its (driver-specific) token."""
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
        job.fencing_token,
        job.lease_token is not None,
    )


class QueueMachine(RuleBasedStateMachine):
    """Subclassed per harness by :func:`machine_for`."""

    harness: ClassVar[Harness]

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.clock = FakeClock(start=1_800_000_000.0)
        self.model: Driver = MemoryDriver(clock=self.clock)
        self.sut: Driver = self.runner.run(self.harness.make_driver(self.clock))
        base = "m" + uuid.uuid4().hex[:10]
        self.sources = [base + "a", base + "b"]
        self.claimable = [*self.sources, self.sources[0] + DEAD_SUFFIX]
        self.all_topics = [
            *self.claimable,
            self.sources[1] + DEAD_SUFFIX,
            self.sources[0] + DEAD_SUFFIX + DEAD_SUFFIX,
        ]
        self.leases: list[Lease] = []
        self.ids: list[str] = []
        self.generated = 0

    def teardown(self) -> None:
        try:
            self.runner.run(self.sut.close())
            self.runner.run(self.model.close())
            self.runner.run(self.harness.cleanup())
        finally:
            self.runner.close()

    # -- comparing ------------------------------------------------------------

    def run(self, coro: Awaitable[T]) -> T:
        async def wrap() -> T:
            return await coro

        return self.runner.run(wrap())

    def both(
        self, what: str, call: Callable[[Driver, bool], Awaitable[T]]
    ) -> tuple[T | None, T | None]:
        """Run ``call`` on the model, then the driver; both must raise the
        same error type or both succeed."""
        results: list[T | None] = []
        errors: list[QueueError | None] = []
        for driver, is_model in ((self.model, True), (self.sut, False)):
            try:
                results.append(self.run(call(driver, is_model)))
                errors.append(None)
            except QueueError as exc:
                results.append(None)
                errors.append(exc)
        model_error, sut_error = (type(e).__name__ if e else None for e in errors)
        assert model_error == sut_error, (
            f"{what}: the reference {'raised ' + model_error if model_error else 'succeeded'}, "
            f"the driver {'raised ' + sut_error + f' ({errors[1]})' if sut_error else 'succeeded'}"
        )
        return results[0], results[1]

    def same(self, what: str, method: str, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        """:meth:`both` for a plain driver method call."""
        return self.both(what, lambda d, _: getattr(d, method)(*args, **kwargs))

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

    @rule(ms=st.sampled_from([1, 100, 1_000, 5_000]))
    def advance_a_bit(self, ms: int) -> None:
        self.clock.advance(ms / 1000.0)

    @rule(topic=st.integers(0, 1), specs=st.lists(JOB_SPECS, min_size=1, max_size=4))
    def enqueue(self, topic: int, specs: list[JobSpec]) -> None:
        name = self.sources[topic]
        jobs = []
        for payload, priority, delay_ms, job_id, max_attempts, absolute in specs:
            if job_id is None:
                self.generated += 1
                job_id = f"g{self.generated}"
            if absolute:
                run_at = self.clock.now() + (delay_ms - 500) / 1000.0
                job = NewJob(
                    id=job_id,
                    payload=payload,
                    priority=priority,
                    run_at=run_at,
                    max_attempts=max_attempts,
                )
            else:
                job = NewJob(
                    id=job_id,
                    payload=payload,
                    priority=priority,
                    delay=delay_ms / 1000.0,
                    max_attempts=max_attempts,
                )
            jobs.append(job)
            if job_id not in self.ids:
                self.ids.append(job_id)
        model, sut = self.both(f"enqueue({name})", lambda d, _: d.enqueue(name, jobs))
        assert model == sut, f"enqueue({name}) created {sut}, expected {model}"

    @rule(topic=st.integers(0, 2), max_jobs=st.integers(1, 4), lease_ms=LEASES_MS)
    def claim(self, topic: int, max_jobs: int, lease_ms: int) -> None:
        name = self.claimable[topic]
        model, sut = self.both(
            f"claim({name})",
            lambda d, _: d.claim(name, max_jobs=max_jobs, lease=lease_ms / 1000.0),
        )
        self.took(name, max_jobs, model or [], sut or [])

    def took(self, name: str, max_jobs: int, model: list[Job], sut: list[Job]) -> None:
        """Compare what both drivers claimed and keep the leases."""
        assert [view(j) for j in sut] == [view(j) for j in model], (
            f"claim({name}, max_jobs={max_jobs}) returned\n  {[view(j) for j in sut]}\n"
            f"expected\n  {[view(j) for j in model]}"
        )
        tokens = {j.lease_token for j in sut}
        assert len(tokens) == len(sut), "two claims got the same lease token"
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
        assert sut[0] == model[0], f"ack_and_claim acked {sut[0]}, expected {model[0]}"
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
        assert model == sut, f"ack_many returned {sut}, expected {model}"

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
        assert model == sut, f"extend returned deadline {sut}, expected {model}"

    @precondition(lambda self: self.leases)
    @rule(pick=PICKS, delay_ms=DELAYS_MS, error=ERRORS, forge=st.booleans())
    def retry(self, pick: int, delay_ms: int, error: str | None, forge: bool) -> None:
        (lease,) = self.pick([pick])
        self.both(
            f"retry({lease.topic}/{lease.job_id})",
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
        assert model == sut, f"reap({name}) moved {sut} jobs, expected {model}"

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
        assert model == sut, f"redrive({name}, {ids}) moved {sut}, expected {model}"

    @rule(topic=st.integers(0, 4), picks=st.one_of(st.none(), st.lists(PICKS, max_size=3)))
    def purge(self, topic: int, picks: list[int] | None) -> None:
        name = self.all_topics[topic]
        ids = self.chosen_ids(picks)
        model, sut = self.both(f"purge({name}, {ids})", lambda d, _: d.purge(name, ids))
        assert model == sut, f"purge({name}, {ids}) deleted {sut}, expected {model}"

    @precondition(lambda self: self.ids)
    @rule(topic=st.integers(0, 4), pick=PICKS)
    def get(self, topic: int, pick: int) -> None:
        name = self.all_topics[topic]
        job_id = self.ids[pick % len(self.ids)]
        model, sut = self.both(f"get({name}/{job_id})", lambda d, _: d.get(name, job_id))
        assert view(sut) == view(model), f"get({name}/{job_id}) = {view(sut)}, not {view(model)}"

    # -- invariants -------------------------------------------------------------

    @invariant()
    def states_agree(self) -> None:
        """Counts, and every job in every state (in order), match the
        reference: each job in exactly one state, none lost or duplicated."""
        for name in self.all_topics:
            model_counts, sut_counts = self.same(f"counts({name})", "counts", name)
            assert sut_counts == model_counts, (
                f"counts({name}) = {sut_counts}, expected {model_counts}"
            )
            seen: set[str] = set()
            for state in JobState:
                model, sut = self.same(
                    f"list_jobs({name}, {state.value})", "list_jobs", name, state, limit=1000
                )
                sut_views = [view(j) for j in sut or []]
                assert sut_views == [view(j) for j in model or []], (
                    f"{state.value} jobs of {name} differ:\n  driver:    {sut_views}\n"
                    f"  reference: {[view(j) for j in model or []]}"
                )
                ids = {j.id for j in sut or []}
                assert not ids & seen, f"{name}: jobs in two states at once: {ids & seen}"
                seen |= ids
        note(f"t={self.clock.now():.3f} leases={len(self.leases)} ids={len(self.ids)}")


def machine_for(harness: Harness) -> type[QueueMachine]:
    """A :class:`QueueMachine` subclass bound to ``harness``."""
    return type("QueueMachineFor" + type(harness).__name__, (QueueMachine,), {"harness": harness})
