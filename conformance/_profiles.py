"""How hard and how long the kit searches: the profiles.

* ``quick``: few examples, no shrinking: a defect is reported in seconds,
  with the unshrunk failing example (while developing a driver, and to
  prove the kit catches a defect).
* ``ci`` (the default): the same examples every run (derandomized, no
  example database: no flakiness); a failure is shrunk, but shrinking
  stops after a bounded time, so a failing run ends in minutes at worst.
* ``deep``: long random runs with the example database, for a local bug
  hunt before a release.

Every profile also bounds each check's time: a scenario check that has not
finished after ``check_seconds`` fails (a hung driver never hangs the run),
the model comparison stops after ``model_seconds``, and one of its driver
calls fails after ``call_seconds``.

Choose with ``run_conformance(profile=...)``, ``python -m queue_conformance
--profile NAME`` or, under pytest, the environment variable
``QUEUE_KIT_PROFILE``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, settings

__all__ = ["PROFILES", "Profile", "current_profile", "use_profile"]

_QUIET = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]

# every profile: no per-example deadline (backends are slow), quiet about
# slow data generation, stop at the first failure found
_BASE = settings(deadline=None, suppress_health_check=_QUIET, report_multiple_bugs=False)
# the same examples every run, no example database: reproducible in CI
_FIXED = settings(_BASE, derandomize=True, database=None, print_blob=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class Profile:
    """One way to run the kit: the Hypothesis settings of the model
    comparison and the kit's own time bounds (seconds)."""

    name: str
    hypothesis: settings
    check_seconds: float = 60.0  # one scenario check, at most
    model_seconds: float = 900.0  # the model comparison, shrinking included
    shrink_seconds: float = 30.0  # shrinking a failing example, at most
    call_seconds: float = 10.0  # one driver call in the model comparison, at most
    doc: str = ""


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            name="quick",
            hypothesis=settings(
                _FIXED,
                max_examples=15,
                stateful_step_count=30,
                phases=(Phase.explicit, Phase.generate),
            ),
            check_seconds=30.0,
            model_seconds=120.0,
            shrink_seconds=0.0,
            doc="15 examples x 30 steps, derandomized, no shrinking: failures in seconds",
        ),
        Profile(
            name="ci",
            hypothesis=settings(_FIXED, max_examples=60, stateful_step_count=40),
            doc="60 examples x 40 steps, derandomized; shrinking stops after 30 s",
        ),
        Profile(
            name="deep",
            hypothesis=settings(_BASE, max_examples=600, stateful_step_count=80, print_blob=True),
            check_seconds=120.0,
            model_seconds=3600.0,
            shrink_seconds=300.0,
            doc="600 examples x 80 steps, random, with the example database",
        ),
    )
}

_active: list[str] = []


def current_profile() -> Profile:
    """The profile in force: the innermost :func:`use_profile`, else
    ``$QUEUE_KIT_PROFILE``, else ``ci``."""
    name = _active[-1] if _active else os.environ.get("QUEUE_KIT_PROFILE", "ci")
    if name not in PROFILES:
        raise ValueError(f"unknown kit profile {name!r}; choose from {sorted(PROFILES)}")
    return PROFILES[name]


@contextlib.contextmanager
def use_profile(name: str) -> Iterator[Profile]:
    """Run the kit under profile ``name`` inside the ``with`` block."""
    if name not in PROFILES:
        raise ValueError(f"unknown kit profile {name!r}; choose from {sorted(PROFILES)}")
    _active.append(name)
    try:
        yield PROFILES[name]
    finally:
        _active.pop()
