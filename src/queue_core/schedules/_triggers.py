"""When a schedule fires: :class:`Cron` expressions (the ``croniter``
package, time-zone aware) and fixed intervals, :class:`Every`.

A trigger is a pure function of time: the ticks it yields depend only on
its fields, never on when a process started, so every scheduler process
computes the same ticks (and the same job ids) for a schedule.
"""

from __future__ import annotations

import datetime as dt
import importlib
import math
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Final, Literal, TypeAlias

from .._errors import InvalidArgument
from .._validate import validate_duration

__all__ = ["CatchUp", "Cron", "Every", "Trigger", "catch_up_count", "cron", "every"]

CatchUp: TypeAlias = Literal["none", "latest"] | int
"""Which missed ticks still get a job: ``"none"``, ``"latest"`` (the most
recent one) or a number N (the N most recent ones, at most 1,000)."""

MAX_CATCH_UP: Final = 1000
DEFAULT_GRACE: Final = 60.0
MAX_GRACE: Final = 86_400.0
MIN_INTERVAL: Final = 1.0
MAX_INTERVAL: Final = 366 * 86_400.0

# a cron expression's aliases, as croniter reads them
_ALIASES: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELD_SPLIT = re.compile(r"\s+")
_VALIDATE_FROM: Final = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_PERIOD_SAMPLES: Final = 8


def catch_up_count(catch_up: object) -> int:
    """How many missed ticks a ``catch_up`` policy keeps: ``"none"`` 0,
    ``"latest"`` 1, an int N itself (0 .. 1,000).

    :raises InvalidArgument: anything else.
    """
    if catch_up == "none" and isinstance(catch_up, str):
        return 0
    if catch_up == "latest" and isinstance(catch_up, str):
        return 1
    if (
        isinstance(catch_up, int)
        and not isinstance(catch_up, bool)
        and 0 <= catch_up <= MAX_CATCH_UP
    ):
        return int(catch_up)
    raise InvalidArgument(
        f"catch_up must be 'none', 'latest' or a number of ticks in [0, {MAX_CATCH_UP}], "
        f"not {catch_up!r}"
    )


def _check_policy(catch_up: object, grace: object, period: float) -> float:
    """The grace in seconds (``None``: one period, at most 60 s)."""
    catch_up_count(catch_up)
    if grace is None:
        return min(DEFAULT_GRACE, period)
    seconds = validate_duration("grace", grace)
    if seconds > MAX_GRACE:
        raise InvalidArgument(f"grace must be at most {MAX_GRACE:g} seconds, not {grace!r}")
    return seconds


def _describe_policy(catch_up: CatchUp) -> str:
    if catch_up == "none" or catch_up == 0:
        return "skip missed ticks"
    if catch_up == "latest" or catch_up == 1:
        return "catch up the latest missed tick"
    return f"catch up the {catch_up} latest missed ticks"


@dataclass(frozen=True, slots=True)
class Every:
    """A tick every ``seconds`` (at least 1, at most 366 days, whole
    milliseconds), at the instants ``offset + k * seconds`` since the Unix
    epoch: aligned to the epoch, so ``Every(3600)`` fires on the hour (UTC)
    and ``Every(86400, offset=3 * 3600)`` at 03:00 UTC, in every process,
    whenever it started.

    * ``catch_up``: which ticks missed while no scheduler could enqueue
      them (downtime, a backend outage) still get a job: ``"latest"``
      (default: the most recent one), ``"none"``, or a number N (the N most
      recent ones).
    * ``grace``: a tick enqueued at most this many seconds late is on time,
      not missed (default ``None``: one period, at most 60 s; so a restart
      does not lose a tick, and a frequent schedule does not flood).
    """

    seconds: float
    _: KW_ONLY
    offset: float = 0.0
    catch_up: CatchUp = "latest"
    grace: float | None = None
    _grace: float = field(init=False, repr=False, compare=False, default=0.0)
    _period_ms: int = field(init=False, repr=False, compare=False, default=0)
    _offset_ms: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        seconds = validate_duration("seconds", self.seconds, minimum=MIN_INTERVAL)
        if seconds > MAX_INTERVAL:
            raise InvalidArgument(f"seconds must be at most 366 days, not {self.seconds!r}")
        period_ms = round(seconds * 1000)
        offset = validate_duration("offset", self.offset)
        offset_ms = round(offset * 1000)
        if offset_ms >= period_ms:
            raise InvalidArgument(f"offset must be less than seconds ({seconds:g}), not {offset:g}")
        grace = _check_policy(self.catch_up, self.grace, period_ms / 1000)
        set_ = object.__setattr__
        set_(self, "seconds", period_ms / 1000)
        set_(self, "offset", offset_ms / 1000)
        if self.grace is not None:
            set_(self, "grace", grace)
        set_(self, "_grace", grace)
        set_(self, "_period_ms", period_ms)
        set_(self, "_offset_ms", offset_ms)

    def _tick(self, k: int) -> float:
        return (self._offset_ms + k * self._period_ms) / 1000

    def _index_at_or_before(self, instant: float) -> int:
        k = math.floor((instant * 1000 - self._offset_ms) / self._period_ms)
        while self._tick(k) > instant:
            k -= 1
        while self._tick(k + 1) <= instant:
            k += 1
        return k

    def next_after(self, instant: float) -> float | None:
        """The first tick strictly after ``instant``."""
        return self._tick(self._index_at_or_before(instant) + 1)

    def latest_at(self, instant: float) -> float | None:
        """The last tick at or before ``instant``."""
        return self._tick(self._index_at_or_before(instant))

    def ticks_after(self, instant: float) -> Iterator[float]:
        """The ticks strictly after ``instant``, in order (endless)."""
        k = self._index_at_or_before(instant) + 1
        while True:
            yield self._tick(k)
            k += 1

    def ticks_back_from(self, instant: float) -> Iterator[float]:
        """The ticks at or before ``instant``, latest first (down to the epoch)."""
        k = self._index_at_or_before(instant)
        while self._offset_ms + k * self._period_ms >= 0:
            yield self._tick(k)
            k -= 1

    def span(self, ticks: int) -> float | None:
        """Seconds from a tick to the ``ticks``-th tick after it."""
        return ticks * self.seconds

    @property
    def effective_grace(self) -> float:
        """The grace in seconds (``grace``, or its default)."""
        return self._grace

    def describe(self) -> str:
        text = f"every {_duration(self.seconds)}"
        if self.offset:
            text += f" (+{_duration(self.offset)} from the epoch)"
        return text

    @property
    def policy(self) -> str:
        return _describe_policy(self.catch_up)


@dataclass(frozen=True, slots=True)
class Cron:
    """A cron expression in a time zone (the ``schedules`` extra:
    ``pip install 'queue-toolkit[schedules]'``, for ``croniter``).

    * ``expression``: 5 fields (``minute hour day-of-month month
      day-of-week``) or 6 with seconds first (``second minute hour ...``);
      ranges, lists, steps, names (``mon``, ``jan``), ``L``, ``W``, ``#``
      and the aliases ``@hourly``, ``@daily``, ``@midnight``, ``@weekly``,
      ``@monthly``, ``@yearly``. As in cron, a day-of-month and a
      day-of-week that are both restricted match either.
    * ``tz``: an IANA time zone name (default ``"UTC"``); the fields are
      read on that zone's wall clock. Daylight saving time: a wall-clock
      time skipped by a spring-forward change fires at the first instant
      after the gap; a time that happens twice (fall back) fires once, at
      its first occurrence, unless the second, minute or hour field is a
      wildcard (``*``, ``*/15``), which follows real time and fires in both
      (as Vixie cron does).
    * ``catch_up``, ``grace``: as for :class:`Every`.
    """

    expression: str
    _: KW_ONLY
    tz: str = "UTC"
    catch_up: CatchUp = "latest"
    grace: float | None = None
    _grace: float = field(init=False, repr=False, compare=False, default=0.0)
    _zone: zoneinfo.ZoneInfo = field(init=False, repr=False, compare=False)
    _fields: str = field(init=False, repr=False, compare=False, default="")
    _wildcard: bool = field(init=False, repr=False, compare=False, default=True)

    def __post_init__(self) -> None:
        croniter = _croniter()
        if not isinstance(self.expression, str):
            raise InvalidArgument(f"a cron expression is a str, not {type(self.expression)}")
        expression = " ".join(self.expression.split())
        fields = _ALIASES.get(expression.lower(), expression)
        parts = _FIELD_SPLIT.split(fields) if fields else []
        if len(parts) not in (5, 6):
            raise InvalidArgument(
                f"cron expression {self.expression!r}: give 5 fields (minute hour "
                "day-of-month month day-of-week), 6 with seconds first, or an alias like @daily"
            )
        if not isinstance(self.tz, str) or not self.tz:
            raise InvalidArgument(
                f"tz must be a time zone name like 'Europe/Paris', not {self.tz!r}"
            )
        try:
            zone = zoneinfo.ZoneInfo(self.tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            raise InvalidArgument(
                f"unknown time zone {self.tz!r} (an IANA name like 'Europe/Paris')"
            ) from None
        try:
            it = croniter(fields, _VALIDATE_FROM.astimezone(zone), second_at_beginning=True)
            first = it.get_next(float)
            # its shortest period, roughly: the shortest gap among its first ticks
            later = [it.get_next(float) for _ in range(_PERIOD_SAMPLES)]
        except Exception as exc:  # croniter's errors are ValueErrors and KeyErrors
            raise InvalidArgument(f"cron expression {self.expression!r}: {exc}") from None
        period = min(b - a for a, b in zip([first, *later], later, strict=False))
        time_fields = parts[:3] if len(parts) == 6 else parts[:2]
        grace = _check_policy(self.catch_up, self.grace, period)
        set_ = object.__setattr__
        set_(self, "expression", expression)
        if self.grace is not None:
            set_(self, "grace", grace)
        set_(self, "_grace", grace)
        set_(self, "_zone", zone)
        set_(self, "_fields", fields)
        set_(self, "_wildcard", any(part.startswith("*") for part in time_fields))

    def _iter(self, instant: float, *, backwards: bool) -> Iterator[float]:
        croniter = _croniter()
        start = dt.datetime.fromtimestamp(instant, self._zone)
        if backwards:  # croniter's get_prev is strict: start just after the instant
            start = dt.datetime.fromtimestamp(math.floor(instant) + 1, self._zone)
        it = croniter(self._fields, start, second_at_beginning=True)
        step = it.get_prev if backwards else it.get_next
        while True:
            try:
                moment: dt.datetime = step(dt.datetime)
            except Exception:  # CroniterBadDateError: no match within 50 years
                return
            if not self._wildcard and _second_occurrence(moment):
                continue
            tick = moment.timestamp()
            if (tick <= instant) if backwards else (tick > instant):
                if tick < 0:
                    return
                yield tick

    def next_after(self, instant: float) -> float | None:
        """The first tick strictly after ``instant`` (``None``: none within 50 years)."""
        return next(self._iter(instant, backwards=False), None)

    def latest_at(self, instant: float) -> float | None:
        """The last tick at or before ``instant``."""
        return next(self._iter(instant, backwards=True), None)

    def ticks_after(self, instant: float) -> Iterator[float]:
        """The ticks strictly after ``instant``, in order."""
        return self._iter(instant, backwards=False)

    def ticks_back_from(self, instant: float) -> Iterator[float]:
        """The ticks at or before ``instant``, latest first."""
        return self._iter(instant, backwards=True)

    def span(self, ticks: int) -> float | None:
        """``None``: the gap between cron ticks varies (see :meth:`ticks_after`)."""
        return None

    @property
    def effective_grace(self) -> float:
        """The grace in seconds (``grace``, or its default)."""
        return self._grace

    def describe(self) -> str:
        return f"cron {self.expression}" + ("" if self.tz == "UTC" else f" ({self.tz})")

    @property
    def policy(self) -> str:
        return _describe_policy(self.catch_up)


Trigger: TypeAlias = Cron | Every
"""When a schedule fires."""


def every(
    seconds: float,
    *,
    offset: float = 0.0,
    catch_up: CatchUp = "latest",
    grace: float | None = None,
) -> Every:
    """A tick every ``seconds``, aligned to the Unix epoch (see :class:`Every`)."""
    return Every(seconds, offset=offset, catch_up=catch_up, grace=grace)


def cron(
    expression: str,
    *,
    tz: str = "UTC",
    catch_up: CatchUp = "latest",
    grace: float | None = None,
) -> Cron:
    """A cron expression (5 fields, or 6 with seconds first) on the wall
    clock of ``tz`` (see :class:`Cron`).

    :raises InvalidArgument: a bad expression or an unknown time zone.
    :raises ImportError: ``croniter`` is missing (the ``schedules`` extra).
    """
    return Cron(expression, tz=tz, catch_up=catch_up, grace=grace)


def _second_occurrence(moment: dt.datetime) -> bool:
    """Whether ``moment`` is the second occurrence of a wall-clock time
    that happens twice (the hour repeated when clocks go back)."""
    return moment.replace(fold=0).utcoffset() != moment.utcoffset()


def _croniter() -> Any:
    try:
        module = importlib.import_module("croniter")  # untyped: kept behind Any
    except ImportError as exc:
        raise ImportError(
            "cron schedules need croniter: pip install 'queue-toolkit[schedules]'",
            name=exc.name,
        ) from exc
    return module.croniter


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"
