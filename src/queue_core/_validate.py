"""Validation of everything that crosses the API, done before any write.

Every check raises :class:`~queue_core.InvalidArgument` (a ``ValueError``) or
:class:`~queue_core.PayloadTooLarge`, never another exception type, and
returns the value normalized to a plain ``int``, ``float``, ``str`` or
``bytes`` (an ``IntEnum`` member or a numpy integer becomes an ``int``), so
a driver never sees a subclass it cannot encode. The runtime validates
before it calls a driver, and drivers may call these helpers again at their
own boundary.

Every number the API takes is bounded by what every backend stores exactly
(Redis keeps integers exactly up to 2**53 inside its scripts):

* priorities: :data:`MIN_PRIORITY` .. :data:`MAX_PRIORITY` (the int32 range);
* ``max_attempts``: 1 .. :data:`MAX_ATTEMPTS`;
* durations: 0 .. :data:`MAX_DURATION` seconds (about 31.7 years);
* instants (``run_at``): 0 .. :data:`MAX_INSTANT` (the end of year 9999, UTC).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from ._errors import InvalidArgument, PayloadTooLarge

__all__ = [
    "base_topic",
    "DEAD_SUFFIX",
    "EMPTY_HEADERS",
    "MAX_ATTEMPTS",
    "MAX_DURATION",
    "MAX_HEADERS",
    "MAX_HEADERS_BYTES",
    "MAX_INSTANT",
    "MAX_PRIORITY",
    "MIN_PRIORITY",
    "dead_letter_topic",
    "source_topic",
    "validate_count",
    "validate_duration",
    "validate_headers",
    "validate_instant",
    "validate_job_id",
    "validate_max_attempts",
    "validate_number",
    "validate_payload",
    "validate_priority",
    "validate_topic",
]

MIN_PRIORITY: Final = -(2**31)
MAX_PRIORITY: Final = 2**31 - 1
MAX_ATTEMPTS: Final = 2**31 - 1
MAX_DURATION: Final = 1e9
MAX_INSTANT: Final = 253_402_300_799.0  # 9999-12-31T23:59:59Z
DEAD_SUFFIX: Final = ":dead"
MAX_BASE_TOPIC_LENGTH: Final = 128
MAX_JOB_ID_LENGTH: Final = 128
MAX_HEADERS: Final = 64
MAX_HEADER_NAME_LENGTH: Final = 64
MAX_HEADERS_BYTES: Final = 16 * 1024
EMPTY_HEADERS: Final[Mapping[str, str]] = MappingProxyType({})

_BASE_TOPIC = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
_JOB_ID = re.compile(r"[\x21-\x7e]{1,128}")
_HEADER_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def validate_topic(topic: object) -> str:
    """A topic is a base name of 1-128 characters of ``A-Z a-z 0-9 _ . -``
    followed by any number of ``:dead`` suffixes, which name dead-letter
    topics. So the dead-letter topic of every valid topic is valid too: every
    topic the library makes can be used through every call. No braces,
    whitespace or control characters."""
    if type(topic) is not str:
        if not isinstance(topic, str):
            raise InvalidArgument(f"topic must be a str, not {type(topic).__name__}")
        topic = str.__str__(topic)
    if not _BASE_TOPIC.fullmatch(base_topic(topic)):
        shown = topic if len(topic) <= 80 else topic[:77] + "..."
        raise InvalidArgument(
            f"invalid topic {shown!r}: use 1-{MAX_BASE_TOPIC_LENGTH} characters of "
            f"A-Z a-z 0-9 _ . - (optionally followed by {DEAD_SUFFIX!r} suffixes)"
        )
    return topic


def base_topic(topic: str) -> str:
    """``topic`` without its ``:dead`` suffixes: the family a topic and its
    dead-letter topics form (one fencing counter; one Redis hash tag)."""
    while topic.endswith(DEAD_SUFFIX):
        topic = topic[: -len(DEAD_SUFFIX)]
    return topic


def dead_letter_topic(topic: str) -> str:
    """The topic that receives ``topic``'s dead letters (``<topic>:dead``)."""
    return validate_topic(topic) + DEAD_SUFFIX


def source_topic(topic: str) -> str | None:
    """For a dead-letter topic, the topic it serves; otherwise ``None``."""
    validate_topic(topic)
    return topic[: -len(DEAD_SUFFIX)] if topic.endswith(DEAD_SUFFIX) else None


def _plain_int(name: str, value: object) -> int:
    """``value`` as a plain ``int``: ints and integer-like objects (an
    ``IntEnum`` member, a numpy integer), never ``bool`` or a float."""
    if isinstance(value, bool):
        raise InvalidArgument(f"{name} must be an int, not bool")
    if type(value) is int:
        return value
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidArgument(f"{name} must be an int, not {type(value).__name__}") from None


def validate_count(name: str, value: object, *, minimum: int, maximum: int) -> int:
    """An integer in [``minimum``, ``maximum``], as a plain ``int``."""
    number = _plain_int(name, value)
    if not minimum <= number <= maximum:
        raise InvalidArgument(f"{name} must be within [{minimum}, {maximum}], not {number}")
    return number


def validate_priority(priority: object) -> int:
    """An int in [-2**31, 2**31 - 1]; higher runs first."""
    return validate_count("priority", priority, minimum=MIN_PRIORITY, maximum=MAX_PRIORITY)


def validate_max_attempts(value: object) -> int:
    """An int in [1, 2**31 - 1]: how many claims a job gets before it is
    dead-lettered."""
    return validate_count("max_attempts", value, minimum=1, maximum=MAX_ATTEMPTS)


def validate_job_id(job_id: object) -> str:
    """1-128 printable ASCII characters without whitespace."""
    if type(job_id) is not str:
        if not isinstance(job_id, str):
            raise InvalidArgument(f"job id must be a str, not {type(job_id).__name__}")
        job_id = str.__str__(job_id)
    if not _JOB_ID.fullmatch(job_id):
        shown = job_id if len(job_id) <= 80 else job_id[:77] + "..."
        raise InvalidArgument(
            f"invalid job id {shown!r}: use 1-{MAX_JOB_ID_LENGTH} printable ASCII "
            "characters without whitespace"
        )
    return job_id


def validate_payload(payload: object, limit: int) -> bytes:
    """Bytes-like (``bytes``, ``bytearray``, ``memoryview``) of at most
    ``limit`` bytes; returned as immutable ``bytes``."""
    if type(payload) is bytes:
        data = payload
    elif isinstance(payload, bytes | bytearray | memoryview):
        try:
            data = bytes(payload)
        except (TypeError, ValueError, BufferError) as exc:
            raise InvalidArgument(f"payload is not readable as bytes: {exc}") from exc
    else:
        raise InvalidArgument(
            f"payload must be bytes-like, not {type(payload).__name__}; "
            "encode it first (for example json.dumps(...).encode())"
        )
    if len(data) > limit:
        raise PayloadTooLarge(len(data), limit)
    return data


def validate_number(name: str, value: object, *, minimum: float, maximum: float) -> float:
    """A finite real number in [``minimum``, ``maximum``], as a ``float``."""
    if isinstance(value, bool):
        raise InvalidArgument(f"{name} must be a number, not bool")
    if not isinstance(value, int | float):
        try:
            value = operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            raise InvalidArgument(f"{name} must be a number, not {type(value).__name__}") from None
    try:
        number = float(value)
    except (OverflowError, ValueError):
        raise InvalidArgument(f"{name} is out of range: {value!r}") from None
    if not math.isfinite(number):
        raise InvalidArgument(f"{name} must be finite, not {value!r}")
    if not minimum <= number <= maximum:
        raise InvalidArgument(f"{name} must be within [{minimum:g}, {maximum:g}], not {value!r}")
    return number


def validate_duration(
    name: str, value: object, *, minimum: float = 0.0, allow_zero: bool = True
) -> float:
    """A finite number of seconds in [``minimum``, :data:`MAX_DURATION`]
    (strictly above ``minimum`` when ``allow_zero`` is false), as a ``float``."""
    if isinstance(value, bool):
        raise InvalidArgument(f"{name} must be a number of seconds, not bool")
    if not isinstance(value, int | float):
        try:
            value = operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            kind = type(value).__name__
            raise InvalidArgument(f"{name} must be a number of seconds, not {kind}") from None
    try:
        seconds = float(value)
    except OverflowError:
        raise InvalidArgument(
            f"{name} is out of range: at most {MAX_DURATION:g} seconds, not {value!r}"
        ) from None
    if not math.isfinite(seconds):
        raise InvalidArgument(f"{name} must be finite, not {value!r}")
    if seconds < minimum or (not allow_zero and seconds <= minimum):
        bound = "at least" if allow_zero else "more than"
        raise InvalidArgument(f"{name} must be {bound} {minimum} seconds, not {value!r}")
    if seconds > MAX_DURATION:
        raise InvalidArgument(f"{name} must be at most {MAX_DURATION:g} seconds, not {value!r}")
    return seconds


def validate_instant(name: str, value: object) -> float:
    """Seconds since the epoch in [0, :data:`MAX_INSTANT`], as a ``float``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"{name} must be seconds since the epoch, not {type(value).__name__}")
    try:
        instant = float(value)
    except OverflowError:
        raise InvalidArgument(f"{name} is out of range: {value!r}") from None
    if not math.isfinite(instant) or not 0.0 <= instant <= MAX_INSTANT:
        raise InvalidArgument(
            f"{name} must be an instant within [0, {MAX_INSTANT:.0f}] (the end of "
            f"year 9999), not {value!r}"
        )
    return instant


def validate_headers(headers: object) -> Mapping[str, str]:
    """A string-to-string map carried with a job: at most 64 entries, names
    of 1-64 characters of ``A-Z a-z 0-9 _ . -``, values of printable text (no
    control characters), at most 16 KiB of UTF-8 in all. Returned as a
    read-only copy."""
    if headers is None:
        return EMPTY_HEADERS
    if not isinstance(headers, Mapping):
        kind = type(headers).__name__
        raise InvalidArgument(f"headers must be a mapping of str to str, not {kind}")
    if not headers:
        return EMPTY_HEADERS
    if len(headers) > MAX_HEADERS:
        raise InvalidArgument(f"at most {MAX_HEADERS} headers, not {len(headers)}")
    copy: dict[str, str] = {}
    size = 0
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise InvalidArgument(
                f"invalid header name {name!r}: use 1-{MAX_HEADER_NAME_LENGTH} characters "
                "of A-Z a-z 0-9 _ . -"
            )
        if not isinstance(value, str):
            raise InvalidArgument(f"header {name!r} must be a str, not {type(value).__name__}")
        if _CONTROL.search(value):
            raise InvalidArgument(f"header {name!r} holds a control character")
        try:
            size += len(name) + len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise InvalidArgument(f"header {name!r} is not valid Unicode text") from None
        copy[str.__str__(name)] = str.__str__(value)
    if size > MAX_HEADERS_BYTES:
        raise InvalidArgument(f"headers take {size} bytes; the limit is {MAX_HEADERS_BYTES}")
    return MappingProxyType(copy)
