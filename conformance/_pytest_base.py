"""The pytest entry point: subclass :class:`DriverConformance` and override
its ``harness`` fixture."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ._context import CHECKS, Check, KitSkip
from ._harness import Harness

__all__ = ["DriverConformance"]


class DriverConformance:
    """One pytest test per kit check::

        class TestMyDriver(DriverConformance):
            @pytest.fixture
            def harness(self) -> Harness:
                return MyHarness()

    A check the driver cannot run (a capability it lacks) is reported as a
    skip with the reason, never as a pass.
    """

    @pytest.fixture
    def harness(self) -> Harness:
        raise NotImplementedError("override the `harness` fixture in your subclass")


def _make_test(check: Check) -> Callable[[Any, Harness], None]:
    def test(self: Any, harness: Harness) -> None:
        try:
            check.run(harness)
        except KitSkip as skip:
            pytest.skip(str(skip))

    test.__name__ = f"test_{check.name}"
    test.__doc__ = check.doc
    return test


def _install() -> None:
    for check in CHECKS.values():
        setattr(DriverConformance, f"test_{check.name}", _make_test(check))
