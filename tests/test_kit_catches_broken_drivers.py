"""The conformance kit is judged by what it catches: it must fail every
deliberately broken driver in ``tests/broken_drivers.py`` (each one defect
away from the reference) and pass the reference itself."""

from __future__ import annotations

import pytest

from queue_conformance import ConformanceReport, MemoryHarness, run_conformance
from queue_core import Clock, Driver
from queue_memory import MemoryDriver

from .broken_drivers import BROKEN_DRIVERS


def _harness(cls: type[MemoryDriver]) -> MemoryHarness:
    def build(clock: Clock | None) -> Driver:
        return cls(clock=clock)

    return MemoryHarness(build)


def _describe(report: ConformanceReport) -> str:
    return report.summary()


def _first_assertion(text: str) -> str:
    """The line of a failure's traceback that says what went wrong."""
    lines = [line for line in text.splitlines() if "Error" in line.split(":")[0]]
    return lines[-1] if lines else (text.strip().splitlines() or [""])[-1]


@pytest.mark.parametrize("broken", BROKEN_DRIVERS, ids=lambda cls: cls.__name__)
def test_kit_fails_broken_driver(broken: type[MemoryDriver]) -> None:
    # "catch": the ci examples, reported without shrinking (a minimal
    # example is for debugging a driver; here only detection matters)
    report = run_conformance(lambda: _harness(broken), profile="catch", fail_fast=True)
    defect = (broken.__doc__ or "").split("\n\n")[0]
    assert not report.ok, (
        f"the kit passed {broken.__name__}, which has a contract defect:\n  {defect}\n"
        f"{_describe(report)}"
    )
    assert report.failed, f"{broken.__name__}: no check failed\n{_describe(report)}"
    for name, text in report.failed.items():
        print(f"{broken.__name__}: caught by {name}: {_first_assertion(text)[:200]}")


def test_kit_passes_reference_driver() -> None:
    report = run_conformance(MemoryHarness, profile="ci")
    assert report.ok, report.summary() + "\n\n" + "\n".join(report.failed.values())
    assert not report.failed
    assert all(reason.strip() for reason in report.skipped.values()), report.skipped


def test_every_broken_driver_is_documented() -> None:
    names = [cls.__name__ for cls in BROKEN_DRIVERS]
    assert len(names) == len(set(names)) >= 12
    for cls in BROKEN_DRIVERS:
        assert issubclass(cls, MemoryDriver)
        assert cls is not MemoryDriver
        assert "contract point" in (cls.__doc__ or ""), cls.__name__
