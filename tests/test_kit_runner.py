"""Running the kit: the command line, profiles, time bounds, failure texts,
the re-sent-call hook, and docs that name every check."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import Phase, settings

import queue_core
from queue_conformance import (
    CHECKS,
    PROFILES,
    ConformanceReport,
    Harness,
    MemoryHarness,
    Profile,
    run_check,
    run_conformance,
)
from queue_conformance.__main__ import main
from queue_conformance._context import in_thread
from queue_core import Clock, Driver, Job
from queue_memory import MemoryDriver

from .broken_drivers import EmptyPayloadMangled, ExtendFromOldDeadline

ROOT = Path(__file__).resolve().parent.parent


class HangingClaim(MemoryDriver):
    """A driver whose claim never returns."""

    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class SlowDriver(MemoryDriver):
    """A correct driver whose every enqueue takes 100 ms."""

    async def enqueue(self, topic: str, jobs: Sequence[queue_core.NewJob]) -> list[bool]:
        await asyncio.sleep(0.1)
        return await super().enqueue(topic, jobs)


class ExtendHarness(MemoryHarness):
    """Named by ``module:attr`` in the command-line tests."""

    def __init__(self) -> None:
        super().__init__(lambda clock: ExtendFromOldDeadline(clock=clock))


class NoResendHarness(Harness):
    async def make_driver(self, clock: Clock | None) -> Driver:
        return MemoryDriver(clock=clock)


def make_memory_harness() -> Harness:
    return MemoryHarness()


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> str:
    """A profile with tiny time bounds, for the timeout tests."""
    profile = Profile(
        name="tiny",
        hypothesis=settings(
            PROFILES["quick"].hypothesis, max_examples=5, phases=(Phase.explicit, Phase.generate)
        ),
        check_seconds=0.5,
        model_seconds=0.5,
        shrink_seconds=0.0,
        call_seconds=0.3,
    )
    monkeypatch.setitem(PROFILES, "tiny", profile)
    return "tiny"


def _run(cls: type[MemoryDriver], select: list[str], profile: str = "quick") -> ConformanceReport:
    return run_conformance(
        lambda: MemoryHarness(lambda clock: cls(clock=clock)), profile=profile, select=select
    )


# -- failure texts -------------------------------------------------------------------


def test_model_failures_carry_the_assertion_sentence() -> None:
    report = _run(EmptyPayloadMangled, ["model_equivalence"])
    reason = report.reasons["model_equivalence"]
    assert reason.startswith("AssertionError: the ready jobs of "), reason
    assert "the specification expects" in reason, reason
    assert "teardown" not in report.summary()
    assert f"FAILED model_equivalence: {reason.splitlines()[0]}" in report.summary()
    # the whole text keeps Hypothesis' steps to replay
    assert "state = KitMachine()" in report.failed["model_equivalence"]
    assert "state.seed(" in report.failed["model_equivalence"]


def test_pytest_sees_the_same_sentence() -> None:
    harness = MemoryHarness(lambda clock: ExtendFromOldDeadline(clock=clock))
    with pytest.raises(AssertionError, match=r"deadline .* is not now \+ 5"):
        run_check("extend_counts_from_now", harness)


# -- time bounds -------------------------------------------------------------------------


def test_a_hung_driver_fails_a_scenario_check_with_a_message(tiny: str) -> None:
    report = _run(HangingClaim, ["extend_counts_from_now"], profile=tiny)
    assert report.reasons["extend_counts_from_now"] == (
        "AssertionError: extend_counts_from_now did not finish within 0.5 s: a driver call "
        "hung (the traceback shows where)"
    )
    assert "HangingClaim" not in report.reasons["extend_counts_from_now"]
    assert "in claim" in report.failed["extend_counts_from_now"]


def test_a_hung_driver_fails_the_model_comparison_with_a_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # bounds roomy enough that a busy machine never trips them on a sound call
    profile = Profile(
        name="hung",
        hypothesis=settings(
            PROFILES["quick"].hypothesis, max_examples=5, phases=(Phase.explicit, Phase.generate)
        ),
        check_seconds=20.0,
        model_seconds=20.0,
        shrink_seconds=0.0,
        call_seconds=2.0,
    )
    monkeypatch.setitem(PROFILES, "hung", profile)
    report = _run(HangingClaim, ["model_equivalence"], profile="hung")
    reason = report.reasons["model_equivalence"]
    assert "did not return within 2 s (a hung driver call)" in reason, reason
    assert reason.startswith("AssertionError: claim("), reason


def test_the_model_comparison_stops_at_its_time_budget(tiny: str) -> None:
    report = _run(SlowDriver, ["model_equivalence"], profile=tiny)
    assert report.reasons["model_equivalence"] == (
        "AssertionError: model_equivalence did not finish within 0.5 s (profile tiny): the "
        "driver is too slow for this profile, or hangs"
    )


def test_a_check_that_blocks_its_thread_fails() -> None:
    release = threading.Event()
    body_done = threading.Event()

    def blocked() -> None:
        release.wait(30)
        body_done.set()

    with pytest.raises(AssertionError, match="did not finish within 0.2 s"):
        in_thread("blocked", blocked, 0.2)
    assert not body_done.is_set(), "in_thread waited for the blocked body"
    release.set()


def test_profiles_bound_shrinking() -> None:
    quick, ci = PROFILES["quick"], PROFILES["ci"]
    assert Phase.shrink not in quick.hypothesis.phases
    assert Phase.shrink in ci.hypothesis.phases
    assert ci.hypothesis.derandomize
    assert quick.hypothesis.derandomize
    assert 0 < ci.shrink_seconds <= 60
    assert {"quick", "ci", "deep"} <= set(PROFILES)


def test_the_shrink_budget_is_in_force_during_the_model_run() -> None:
    from hypothesis.internal.conjecture import engine

    seen: list[int] = []

    class Recording(MemoryHarness):
        async def make_driver(self, clock: Clock | None) -> Driver:
            seen.append(engine.MAX_SHRINKING_SECONDS)
            return MemoryDriver(clock=clock)

    before = engine.MAX_SHRINKING_SECONDS
    report = run_conformance(Recording, profile="quick", select=["model_equivalence"])
    assert report.ok, report.summary()
    assert set(seen[1:]) == {1}, seen  # quick: no shrinking (at least 1 s for the engine)
    assert before == engine.MAX_SHRINKING_SECONDS


# -- the re-sent-call hook ---------------------------------------------------------------


def test_resent_calls_skip_with_a_reason_without_the_hook() -> None:
    report = run_conformance(NoResendHarness, select=["resent_calls_take_effect_once"])
    assert report.skipped == {
        "resent_calls_take_effect_once": "the harness does not offer resend() (re-sent calls "
        "after a lost reply)"
    }


def test_resent_calls_run_on_the_reference() -> None:
    report = run_conformance(MemoryHarness, select=["resent_calls_take_effect_once"])
    assert report.passed == ["resent_calls_take_effect_once"], report.summary()


# -- the command line -------------------------------------------------------------------


def test_command_line_memory(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["memory", "--profile", "quick", "--select", "payload_round_trip", "topic_names"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("2 passed, 0 failed, 0 skipped"), out


def test_command_line_module_attr_fails_a_broken_driver(capsys: pytest.CaptureFixture[str]) -> None:
    target = "tests.test_kit_runner:ExtendHarness"
    code = main([target, "--profile", "quick", "--select", "extend_counts_from_now"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "FAILED extend_counts_from_now: AssertionError: deadline" in out, out


def test_command_line_module_attr_factory(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["tests.test_kit_runner:make_memory_harness", "--select", "topic_names"])
    assert code == 0, capsys.readouterr().out


def test_command_line_url_uses_open_driver(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    opened: list[str] = []

    def open_driver(url: str | None = None, *, clock: Clock | None = None) -> Driver:
        opened.append(url or "")
        return MemoryDriver(clock=clock)

    monkeypatch.setattr(queue_core, "open_driver", open_driver, raising=False)
    code = main(["memory://kit", "--select", "payload_round_trip"])
    assert code == 0, capsys.readouterr().out
    assert opened == ["memory://kit"]


@pytest.mark.parametrize(
    "argv",
    [
        ["nothing"],
        ["no_such_module_here:Harness"],
        ["tests.test_kit_runner:Missing"],
        ["memory", "--select", "no_such_check"],
        ["memory", "--profile", "nope"],
        [],
    ],
)
def test_command_line_rejects_bad_arguments(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2


def test_command_line_lists_the_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert [line.split(" ", 1)[0] for line in out.splitlines()] == list(CHECKS)


def test_python_dash_m_runs_the_kit() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "queue_conformance", "memory", "--profile", "quick"]
        + ["--select", "payload_round_trip"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 0 failed" in done.stdout


# -- the docs ---------------------------------------------------------------------------


def test_docs_name_every_check_and_define_every_contract_point() -> None:
    text = (ROOT / "docs" / "conformance.md").read_text()
    for name, registered in CHECKS.items():
        assert f"`{name}`" in text, f"docs/conformance.md does not mention {name}"
        for point in registered.contract:
            assert f"\n| {point} |" in text, f"contract point {point} ({name}) is not defined"
    for path in ("docs/conformance.md", "docs/writing-a-driver.md"):
        assert "SPEC" not in (ROOT / path).read_text(), f"{path} cites a SPEC"
