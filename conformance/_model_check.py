"""Registers the state machine as a kit check."""

from __future__ import annotations

import asyncio

from hypothesis.stateful import run_state_machine_as_test

from queue_core import FakeClock

from . import _scenarios as _scenarios  # the quick scenario checks register first
from ._context import CHECKS, Check, KitSkip
from ._harness import Harness
from ._machine import machine_for
from ._profiles import PROFILES, current_profile

__all__ = ["MODEL_CHECK"]


def _run(harness: Harness) -> None:
    async def probe() -> bool:
        driver = await harness.make_driver(FakeClock())
        try:
            return driver.capabilities.clock_control
        finally:
            await driver.close()

    with asyncio.Runner() as runner:
        if not runner.run(probe()):
            raise KitSkip("the model comparison needs capabilities.clock_control")
    run_state_machine_as_test(machine_for(harness), settings=PROFILES[current_profile()])


MODEL_CHECK = Check(
    name="model_equivalence",
    run=_run,
    doc="Random walks of enqueue/claim/ack/extend/retry/release/dead-letter/reap/"
    "clock/crash/redrive/purge agree with queue_memory step by step.",
    contract=(1, 3, 4, 5, 6, 9, 10, 11, 12),
)
CHECKS[MODEL_CHECK.name] = MODEL_CHECK
