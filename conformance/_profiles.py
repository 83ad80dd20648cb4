"""Hypothesis settings for the kit: ``ci`` (bounded, derandomized: the same
examples every run, no flakiness) and ``deep`` (long random runs for local
bug hunting). Choose with ``run_conformance(profile=...)`` or the
environment variable ``QUEUE_KIT_PROFILE``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import HealthCheck, Phase, settings

__all__ = ["PROFILES", "current_profile", "use_profile"]

_QUIET = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]

# every profile: no per-example deadline (backends are slow), quiet about
# slow data generation
_BASE = settings(deadline=None, suppress_health_check=_QUIET)
# the same examples every run, no example database: reproducible in CI
_FIXED = settings(_BASE, derandomize=True, database=None)
_CI = settings(_FIXED, max_examples=60, stateful_step_count=40, print_blob=False)

PROFILES: dict[str, settings] = {
    "ci": _CI,
    "deep": settings(_BASE, max_examples=600, stateful_step_count=80, print_blob=True),
    # like ci, but reports the first failing example without shrinking it:
    # for proving that the kit catches a defect, where speed beats a
    # minimal example
    "catch": settings(
        _CI,
        phases=(Phase.explicit, Phase.reuse, Phase.generate),
        report_multiple_bugs=False,
    ),
    "smoke": settings(_FIXED, max_examples=8, stateful_step_count=15),
}

_active: list[str] = []


def current_profile() -> str:
    """The profile in force: the innermost :func:`use_profile`, else
    ``$QUEUE_KIT_PROFILE``, else ``ci``."""
    if _active:
        return _active[-1]
    return os.environ.get("QUEUE_KIT_PROFILE", "ci")


@contextmanager
def use_profile(name: str) -> Iterator[settings]:
    if name not in PROFILES:
        raise ValueError(f"unknown kit profile {name!r}; choose from {sorted(PROFILES)}")
    _active.append(name)
    try:
        yield PROFILES[name]
    finally:
        _active.pop()
