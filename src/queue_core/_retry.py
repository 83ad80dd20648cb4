"""Retry backoff: capped exponential with jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ._errors import InvalidArgument
from ._validate import validate_duration, validate_number

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """How long a failed job waits before its next attempt.

    The delay after attempt ``n`` (1-based) is
    ``min(max_delay, initial_delay * multiplier ** (n - 1))`` scaled by a
    random factor in ``[1 - jitter, 1]``: never above ``max_delay`` and never
    below ``(1 - jitter)`` of the exponential curve. Seconds, like every
    duration in the toolkit.
    """

    initial_delay: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 300.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "initial_delay", validate_duration("initial_delay", self.initial_delay))
        set_(self, "max_delay", validate_duration("max_delay", self.max_delay))
        set_(
            self,
            "multiplier",
            validate_number("multiplier", self.multiplier, minimum=1.0, maximum=1e6),
        )
        set_(self, "jitter", validate_number("jitter", self.jitter, minimum=0.0, maximum=1.0))
        if self.max_delay < self.initial_delay:
            raise InvalidArgument("max_delay must be >= initial_delay")

    def bounds(self, attempt: int) -> tuple[float, float]:
        """The (lowest, highest) delay after attempt ``attempt``."""
        exponent = max(0, attempt - 1)
        try:
            base = self.initial_delay * self.multiplier**exponent
        except OverflowError:
            base = self.max_delay
        high = min(self.max_delay, base)
        return high * (1.0 - self.jitter), high

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """A jittered delay for the retry that follows attempt ``attempt``."""
        low, high = self.bounds(attempt)
        return (rng or random).uniform(low, high)
