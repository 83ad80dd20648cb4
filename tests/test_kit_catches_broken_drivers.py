"""The conformance kit is judged by what it catches: it must fail every
deliberately broken driver in ``tests/broken_drivers.py`` (each one defect
away from the reference) with the check its class names and a sentence
that says what went wrong, and pass the reference itself."""

from __future__ import annotations

import pytest

from queue_conformance import CHECKS, MemoryHarness, run_conformance
from queue_core import Clock, Driver
from queue_memory import MemoryDriver

from .broken_drivers import BROKEN_DRIVERS


def _harness(cls: type[MemoryDriver]) -> MemoryHarness:
    def build(clock: Clock | None) -> Driver:
        return cls(clock=clock)

    peer = getattr(cls, "peer", None)
    return MemoryHarness(build, peer=(lambda driver: driver.peer()) if peer else None)  # type: ignore[attr-defined]


@pytest.mark.parametrize("broken", BROKEN_DRIVERS, ids=lambda cls: cls.__name__)
def test_kit_fails_broken_driver(broken: type[MemoryDriver]) -> None:
    # "quick": few examples, no shrinking; fail_fast: stop at the first
    # failing check, which must be the one the class names
    report = run_conformance(lambda: _harness(broken), profile="quick", fail_fast=True)
    defect = " ".join((broken.__doc__ or "").split("\n\n")[0].split())
    assert not report.ok, (
        f"the kit passed {broken.__name__}, which has a contract defect:\n  {defect}\n"
        f"{report.summary()}"
    )
    (failed,) = report.failed
    expected = broken.caught_by  # type: ignore[attr-defined]
    assert failed == expected, (
        f"{broken.__name__} was first caught by {failed}, not {expected}:\n{report.summary()}"
    )
    reason = report.reasons[failed]
    assert reason.startswith(("AssertionError: ", "ConformanceFailure: ")), reason
    assert "state.teardown()" not in reason
    assert len(reason.split(": ", 1)[1]) > 20, f"a failure without a sentence: {reason!r}"
    print(f"{broken.__name__}: caught by {failed}: {reason[:200]}")


def test_kit_passes_reference_driver() -> None:
    report = run_conformance(MemoryHarness, profile="ci")
    assert report.ok, report.summary() + "\n\n" + "\n".join(report.failed.values())
    # the reference keeps nothing across a restart and enqueues only on its loop
    assert set(report.skipped) == {"restart_keeps_every_job", "enqueue_from_threads"}, (
        report.skipped
    )
    assert all(reason.strip() for reason in report.skipped.values()), report.skipped


def test_every_broken_driver_is_documented() -> None:
    names = [cls.__name__ for cls in BROKEN_DRIVERS]
    assert len(names) == len(set(names)) >= 60
    for cls in BROKEN_DRIVERS:
        assert issubclass(cls, MemoryDriver)
        assert cls is not MemoryDriver
        assert "contract point" in " ".join((cls.__doc__ or "").split()), cls.__name__
        assert getattr(cls, "caught_by", None) in CHECKS, cls.__name__
