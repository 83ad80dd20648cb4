"""Running the kit without pytest."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ._context import CHECKS, KitSkip
from ._harness import Harness
from ._profiles import use_profile

__all__ = [
    "ConformanceFailure",
    "ConformanceReport",
    "failure_reason",
    "run_check",
    "run_conformance",
]

_REASON_LINES = 8
_REASON_CHARS = 1200


class ConformanceFailure(AssertionError):
    """Raised by :meth:`ConformanceReport.raise_for_failures`."""


def failure_reason(exc: BaseException) -> str:
    """What went wrong, in a few lines: the error's own message (the
    sentence that names the property and shows the values), without the
    traceback or Hypothesis' replay steps; for an error without a message,
    the source line that raised it."""
    message = str(exc).strip()
    if not message:
        frames = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in frames if "conformance" in f.filename.replace("\\", "/")]
        where = (ours or frames)[-1] if frames else None
        message = (
            f"{where.line} ({where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
            if where is not None and where.line
            else "(no message)"
        )
    lines = message.splitlines()
    text = "\n".join(lines[:_REASON_LINES]) + ("\n..." if len(lines) > _REASON_LINES else "")
    if len(text) > _REASON_CHARS:
        text = text[:_REASON_CHARS] + "..."
    return f"{type(exc).__name__}: {text}"


@dataclass
class ConformanceReport:
    """What :func:`run_conformance` found. ``failed`` maps a failed check's
    name to the whole failure text (traceback and, for the model comparison,
    the failing steps), ``reasons`` to its short reason (the assertion
    sentence), ``skipped`` a skipped check's name to the reason, and
    ``seconds`` every check's name to its run time."""

    passed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    profile: str = "ci"

    @property
    def ok(self) -> bool:
        """True when nothing failed (skips are allowed: each has a reason)."""
        return not self.failed and bool(self.passed)

    def summary(self) -> str:
        total = sum(self.seconds.values())
        lines = [
            f"{len(self.passed)} passed, {len(self.failed)} failed, {len(self.skipped)} skipped"
            f" in {total:.1f}s (profile {self.profile})"
        ]
        for name in self.failed:
            reason = self.reasons.get(name, "").replace("\n", "\n    ")
            lines.append(f"FAILED {name}: {reason}")
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
    """Run every check (or those named in ``select``, in the kit's order)
    against fresh harnesses from ``make_harness``; needs no pytest.

    >>> report = run_conformance(lambda: MyHarness())
    >>> print(report.summary())
    >>> report.raise_for_failures()
    """
    wanted = list(CHECKS) if select is None else list(select)
    unknown = [name for name in wanted if name not in CHECKS]
    if unknown:
        raise ValueError(f"unknown checks {unknown}; known: {sorted(CHECKS)}")
    names = [name for name in CHECKS if name in wanted]
    report = ConformanceReport(profile=profile)
    with use_profile(profile):
        for name in names:
            start = time.perf_counter()
            try:
                CHECKS[name].run(make_harness())
            except KitSkip as skip:
                report.skipped[name] = str(skip)
            except Exception as exc:
                report.failed[name] = "".join(traceback.format_exception(exc))
                report.reasons[name] = failure_reason(exc)
            else:
                report.passed.append(name)
            report.seconds[name] = time.perf_counter() - start
            if fail_fast and report.failed:
                break
    return report
