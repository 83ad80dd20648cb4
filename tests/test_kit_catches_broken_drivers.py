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
    """What went wrong, from a failure's traceback: the exception line, and
    for a bare ``assert`` the source line above it."""
    lines = [line.strip() for line in text.splitlines() if line.strip().strip("^~")]
    for i in range(len(lines) - 1, -1, -1):
        head = lines[i].split(":")[0]
        if head.endswith(("Error", "Exception")) and " " not in head:
            return lines[i] if ":" in lines[i] or i == 0 else f"{lines[i]}: {lines[i - 1]}"
    return lines[-1] if lines else ""


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
