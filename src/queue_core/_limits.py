"""Global flow limits of a topic, enforced by the backend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ._validate import validate_count, validate_duration

__all__ = ["MAX_LIMIT", "TopicLimits"]

MAX_LIMIT = 100_000


@dataclass(frozen=True, kw_only=True, slots=True)
class TopicLimits:
    """Limits of one topic, kept by the backend and enforced inside every
    claim, across all consumers of every process (not per worker):

    * ``max_in_flight``: at most this many jobs of the topic are in flight
      (leased) at once; ``None``: no limit.
    * ``rate`` jobs per ``per`` seconds: at most ``rate`` claims within any
      window of ``per`` seconds (a sliding window); ``None``: no limit.

    A consumer that finds the topic at its limit waits until a slot opens
    (an ack frees an in-flight slot; the rate window moves on), without
    polling. Both bounds are 1 .. 100,000.
    """

    max_in_flight: int | None = None
    rate: int | None = None
    per: float = 1.0

    def __post_init__(self) -> None:
        if self.max_in_flight is not None:
            value = validate_count(
                "max_in_flight", self.max_in_flight, minimum=1, maximum=MAX_LIMIT
            )
            object.__setattr__(self, "max_in_flight", value)
        if self.rate is not None:
            value = validate_count("rate", self.rate, minimum=1, maximum=MAX_LIMIT)
            object.__setattr__(self, "rate", value)
        per = validate_duration("per", self.per, minimum=0.001)
        if per > 86_400.0:
            from ._errors import InvalidArgument

            raise InvalidArgument(f"per must be at most 86400 seconds, not {self.per!r}")
        object.__setattr__(self, "per", per)

    @property
    def unlimited(self) -> bool:
        return self.max_in_flight is None and self.rate is None

    def describe(
        self, sep: str = ", ", seconds: Callable[[float], str] = lambda s: f"{s:g}s"
    ) -> str:
        """``5 in flight, 100 per 1s`` (``seconds`` formats ``per``); empty
        without limits."""
        parts = []
        if self.max_in_flight is not None:
            parts.append(f"{self.max_in_flight:,} in flight")
        if self.rate is not None:
            parts.append(f"{self.rate:,} per {seconds(self.per)}")
        return sep.join(parts)
