"""The kit's wiring works with and without pytest, and missing capabilities
become skips with a reason. (That the reference passes the whole kit is
``test_kit_passes_reference_driver``; the pytest base class runs for real on
the SQLite and Redis drivers.)"""

from __future__ import annotations

import dataclasses

import pytest

from queue_conformance import (
    CHECKS,
    DriverConformance,
    MemoryHarness,
    run_conformance,
)
from queue_core import Capabilities, Clock, Driver, Job
from queue_memory import MemoryDriver


class _NoClockControl(MemoryDriver):
    """A correct driver that does not accept an injected clock."""

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(clock_control=False)


def test_every_check_is_installed_on_the_pytest_base_class() -> None:
    for name in CHECKS:
        assert callable(getattr(DriverConformance, f"test_{name}"))


def test_run_conformance_without_pytest_selects_and_reports() -> None:
    report = run_conformance(
        lambda: MemoryHarness(), select=["payload_round_trip", "idempotent_enqueue"]
    )
    assert report.ok
    assert report.passed == ["payload_round_trip", "idempotent_enqueue"]
    assert "2 passed, 0 failed" in report.summary()
    report.raise_for_failures()


def test_unknown_check_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown checks"):
        run_conformance(lambda: MemoryHarness(), select=["no_such_check"])


def test_missing_clock_control_skips_with_a_reason_never_passes() -> None:
    def factory(clock: Clock | None) -> Driver:
        return _NoClockControl()

    report = run_conformance(
        lambda: MemoryHarness(factory),
        select=["model_equivalence", "extend_counts_from_now", "payload_round_trip"],
    )
    assert report.passed == ["payload_round_trip"]
    assert set(report.skipped) == {"model_equivalence", "extend_counts_from_now"}
    assert all("clock_control" in reason for reason in report.skipped.values())
    assert "SKIPPED model_equivalence: " in report.summary()


def test_a_failing_driver_fails_the_report() -> None:
    class LosesEmptyPayloads(MemoryDriver):
        async def claim(self, topic, *, max_jobs, lease):
            jobs = await super().claim(topic, max_jobs=max_jobs, lease=lease)
            return [j if j.payload else _with_payload(j) for j in jobs]

    report = run_conformance(
        lambda: MemoryHarness(lambda clock: LosesEmptyPayloads(clock=clock)),
        select=["payload_round_trip"],
    )
    assert not report.ok
    assert "payload_round_trip" in report.failed
    assert report.reasons["payload_round_trip"] == (
        "AssertionError: payload of 0 bytes came back as b' '..."
    )
    assert "FAILED payload_round_trip: AssertionError: payload of 0 bytes" in report.summary()
    with pytest.raises(AssertionError, match="payload_round_trip"):
        report.raise_for_failures()


def _with_payload(job: Job) -> Job:
    return dataclasses.replace(job, payload=b" ")
