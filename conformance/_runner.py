"""Running the kit without pytest."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ._context import CHECKS, KitSkip
from ._harness import Harness
from ._profiles import use_profile

__all__ = ["ConformanceFailure", "ConformanceReport", "run_check", "run_conformance"]


class ConformanceFailure(AssertionError):
    """Raised by :meth:`ConformanceReport.raise_for_failures`."""


@dataclass
class ConformanceReport:
    """What :func:`run_conformance` found. ``failed`` and ``skipped`` map a
    check's name to the failure text or the skip reason."""

    passed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing failed (skips are allowed: each has a reason)."""
        return not self.failed and bool(self.passed)

    def summary(self) -> str:
        lines = [
            f"{len(self.passed)} passed, {len(self.failed)} failed, {len(self.skipped)} skipped"
        ]
        lines += [
            f"FAILED {name}: {text.splitlines()[-1] if text else ''}"
            for name, text in self.failed.items()
        ]
        lines += [f"SKIPPED {name}: {reason}" for name, reason in self.skipped.items()]
        return "\n".join(lines)

    def raise_for_failures(self) -> None:
        if self.failed:
            details = "\n\n".join(f"== {name} ==\n{text}" for name, text in self.failed.items())
            raise ConformanceFailure(self.summary() + "\n\n" + details)


def run_check(name: str, harness: Harness) -> None:
    """Run one check by name; raises on failure, :class:`KitSkip` to skip."""
    CHECKS[name].run(harness)


def run_conformance(
    make_harness: Callable[[], Harness],
    *,
    profile: str = "ci",
    fail_fast: bool = False,
    select: Iterable[str] | None = None,
) -> ConformanceReport:
    """Run every check (or those named in ``select``) against fresh
    harnesses from ``make_harness``; needs no pytest.

    >>> report = run_conformance(lambda: MyHarness())
    >>> report.raise_for_failures()
    """
    names = list(CHECKS) if select is None else list(select)
    unknown = [name for name in names if name not in CHECKS]
    if unknown:
        raise ValueError(f"unknown checks {unknown}; known: {sorted(CHECKS)}")
    report = ConformanceReport()
    with use_profile(profile):
        for name in names:
            start = time.perf_counter()
            try:
                CHECKS[name].run(make_harness())
            except KitSkip as skip:
                report.skipped[name] = str(skip)
            except Exception as exc:
                report.failed[name] = "".join(traceback.format_exception(exc))
            else:
                report.passed.append(name)
            report.seconds[name] = time.perf_counter() - start
            if fail_fast and report.failed:
                break
    return report
