"""Registers the state machine (driver against the executable
specification) as the kit check ``model_equivalence``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

from hypothesis.reporting import current_reporter, with_reporter
from hypothesis.stateful import run_state_machine_as_test

from queue_core import FakeClock

from ._context import CHECKS, MODEL, Check, KitSkip, in_thread
from ._harness import Harness
from ._machine import OutOfTime, machine_for
from ._profiles import current_profile

__all__ = ["MODEL_CHECK"]


@contextlib.contextmanager
def _shrink_budget(seconds: float) -> Iterator[None]:
    """Cap Hypothesis' shrinking time (its engine reads this documented,
    monkeypatchable constant; 300 s by default)."""
    try:
        from hypothesis.internal.conjecture import engine
    except ImportError:  # pragma: no cover - a Hypothesis without it
        yield
        return
    before = getattr(engine, "MAX_SHRINKING_SECONDS", None)
    if before is None:  # pragma: no cover
        yield
        return
    engine.MAX_SHRINKING_SECONDS = max(1, int(seconds))
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = before


@contextlib.contextmanager
def _same_examples_everywhere() -> Iterator[None]:
    """Hypothesis mixes into the data constants it finds in the source of
    every loaded local module, so the same derandomized run draws other
    examples under pytest than from the command line. Leave those out while
    the kit runs (guarded: a Hypothesis without them is left alone)."""
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants
    except ImportError:  # pragma: no cover
        yield
        return
    names = ("_get_local_constants", "CONSTANTS_CACHE")
    saved: dict[str, Any] = {name: getattr(providers, name, None) for name in names}
    if any(value is None for value in saved.values()):  # pragma: no cover
        yield
        return
    setattr(providers, "_get_local_constants", Constants)  # noqa: B010 - a private name
    setattr(providers, "CONSTANTS_CACHE", type(saved["CONSTANTS_CACHE"])(1024))  # noqa: B010
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(providers, name, value)


def _run(harness: Harness) -> None:
    async def probe() -> bool:
        driver = await harness.make_driver(FakeClock())
        try:
            return driver.capabilities.clock_control
        finally:
            await driver.close()
            await harness.cleanup()

    with asyncio.Runner() as runner:
        if not runner.run(probe()):
            raise KitSkip("the model comparison needs capabilities.clock_control")
    profile = current_profile()
    machine = machine_for(
        harness,
        deadline=time.monotonic() + profile.model_seconds,
        call_seconds=profile.call_seconds,
    )

    stopped: list[str] = []

    def body() -> None:
        outer = current_reporter()

        def reporter(text: object) -> None:
            # Hypothesis announces a stopped shrink as if five minutes had
            # passed; the kit's own budget stopped it: say so in the failure
            if str(text).startswith("WARNING: Hypothesis has spent more than"):
                stopped.append(str(text))
            else:
                outer(text)

        with (
            _shrink_budget(profile.shrink_seconds),
            _same_examples_everywhere(),
            with_reporter(reporter),
        ):
            try:
                run_state_machine_as_test(machine, settings=profile.hypothesis)
            except Exception as exc:
                if stopped:
                    exc.add_note(
                        f"(shrinking stopped after the profile's {profile.shrink_seconds:g} s: "
                        "the steps above may not be minimal)"
                    )
                raise

    try:
        in_thread("model_equivalence", body, profile.model_seconds + 60)
    except OutOfTime:
        raise AssertionError(
            f"model_equivalence did not finish within {profile.model_seconds:g} s "
            f"(profile {profile.name}): the driver is too slow for this profile, or hangs"
        ) from None


MODEL_CHECK = Check(
    name="model_equivalence",
    run=_run,
    doc="Random walks of every driver operation agree step by step with the kit's "
    "executable specification (which shares no code with any driver).",
    contract=(1, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 16, 17, 19, 20, 21),
    tier=MODEL,
)
CHECKS[MODEL_CHECK.name] = MODEL_CHECK
