"""The kit's executable specification: independent of the reference driver
(so that the reference's defects fail its own certification), and the
fencing-token comparison accepts exactly the order-preserving images."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest
from hypothesis import Phase, settings

from queue_conformance import PROFILES, MemoryHarness, Profile, SpecDriver, run_conformance
from queue_conformance._machine import Fences
from queue_core import FakeClock, NewJob, TopicLimits, Unsupported
from queue_memory import MemoryDriver

from . import broken_drivers

KIT = Path(__file__).resolve().parent.parent / "conformance"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add(node.module or "")
    return found


@pytest.mark.parametrize("module", ["_spec.py", "_machine.py", "_model_check.py"])
def test_the_model_shares_no_code_with_the_reference(module: str) -> None:
    imported = _imports(KIT / module)
    assert not {name for name in imported if name.startswith("queue_memory")}, imported


@pytest.fixture
def thorough(monkeypatch: pytest.MonkeyPatch) -> str:
    """The ``ci`` examples without shrinking: a defect is found as surely as
    under ``ci``, and reported at once."""
    ci = PROFILES["ci"]
    profile = Profile(
        name="ci-unshrunk",
        hypothesis=settings(ci.hypothesis, phases=(Phase.explicit, Phase.generate)),
        shrink_seconds=0.0,
    )
    monkeypatch.setitem(PROFILES, profile.name, profile)
    return profile.name


@pytest.mark.parametrize(
    "broken",
    [
        broken_drivers.ReapLosesPriority,
        broken_drivers.ReleaseUsesAttempt,
        broken_drivers.EmptyPayloadMangled,
        broken_drivers.DelayedClaimableEarly,
        broken_drivers.ExtendFromOldDeadline,
        broken_drivers.StaleTokenExtend,
        broken_drivers.InFlightEnqueueDuplicates,
        broken_drivers.ListOffsetIgnored,
        broken_drivers.OldestDueIgnoresScheduled,
        broken_drivers.FencingCounterPerJob,
        broken_drivers.CancelDeletesOtherJobs,
        broken_drivers.HeaderValuesStripped,
        broken_drivers.TopicsListDeadTopics,
    ],
    ids=lambda cls: cls.__name__,
)
def test_a_defect_in_the_reference_fails_the_model_comparison(
    broken: type[MemoryDriver], thorough: str
) -> None:
    # the reference with one defect, compared with the specification alone
    report = run_conformance(
        lambda: MemoryHarness(lambda clock: broken(clock=clock)),
        profile=thorough,
        select=["model_equivalence"],
    )
    assert "model_equivalence" in report.failed, report.summary()


def test_the_specification_follows_the_capabilities() -> None:
    async def main() -> None:
        clock = FakeClock()
        bare = SpecDriver(clock, records=False, cancellation=False, limits=False, list_topics=False)
        job = NewJob(id="x", payload=b"", idempotency_window=60)
        assert await bare.enqueue("t", [job]) == [True]
        (held,) = await bare.claim("t", max_jobs=1, lease=5)
        await bare.ack("t", "x", held.lease_token or "")
        assert await bare.enqueue("t", [job]) == [True], "records off: the window is ignored"
        for call in (bare.topics(), bare.cancel("t", ["x"]), bare.set_limits("t", TopicLimits())):
            with pytest.raises(Unsupported):
                await call
        full = SpecDriver(clock)
        assert await full.enqueue("t", [job]) == [True]
        (held,) = await full.claim("t", max_jobs=1, lease=5)
        await full.ack("t", "x", held.lease_token or "")
        assert await full.enqueue("t", [job]) == [False], "records on: the id is remembered"
        clock.advance(60)
        assert await full.enqueue("t", [job]) == [True]

    asyncio.run(main())


def test_fencing_tokens_may_be_any_order_preserving_image() -> None:
    fences = Fences()
    for spec, sut in ((1, 10), (3, 35), (3, 35), (0, 0)):
        fences.match("t", spec, sut, "ok")
    fences.match("t:dead", 6, 60, "the same family")
    fences.match("other", 1, 7, "another family")
    for spec, sut, message in (
        (7, 50, "is not above 60"),
        (8, 60, "already issued"),
        (3, 36, "the same claim showed 35"),
        (0, 5, "expected 0"),
        (9, 0, "a claimed job's token"),
        (2, 40, "is not below 35"),
    ):
        with pytest.raises(AssertionError, match=message):
            fences.match("t", spec, sut, "bad")
