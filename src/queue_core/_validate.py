"""Validation of everything that crosses the API, done before any write.

Every check raises :class:`~queue_core.InvalidArgument` (a ``ValueError``) or
:class:`~queue_core.PayloadTooLarge`; the runtime validates before it calls a
driver, and drivers may call these helpers again at their own boundary.
"""

from __future__ import annotations

import math
import re
from typing import Final

from ._errors import InvalidArgument, PayloadTooLarge

__all__ = [
    "DEAD_SUFFIX",
    "MAX_PRIORITY",
    "MIN_PRIORITY",
    "dead_letter_topic",
    "source_topic",
    "validate_duration",
    "validate_job_id",
    "validate_max_attempts",
    "validate_payload",
    "validate_priority",
    "validate_topic",
]

MIN_PRIORITY: Final = -(2**31)
MAX_PRIORITY: Final = 2**31 - 1
DEAD_SUFFIX: Final = ":dead"
MAX_TOPIC_LENGTH: Final = 200
MAX_JOB_ID_LENGTH: Final = 128

_BASE_TOPIC = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
_JOB_ID = re.compile(r"[\x21-\x7e]{1,128}")


def validate_topic(topic: object) -> str:
    """A topic is 1-128 characters of ``A-Z a-z 0-9 _ . -``, optionally
    followed by ``:dead`` suffixes, which name dead-letter topics. No braces,
    whitespace or control characters; at most 200 characters in all."""
    if not isinstance(topic, str):
        raise InvalidArgument(f"topic must be a str, not {type(topic).__name__}")
    if len(topic) > MAX_TOPIC_LENGTH:
        raise InvalidArgument(f"topic is longer than {MAX_TOPIC_LENGTH} characters")
    base = topic
    while base.endswith(DEAD_SUFFIX):
        base = base[: -len(DEAD_SUFFIX)]
    if not _BASE_TOPIC.fullmatch(base):
        raise InvalidArgument(
            f"invalid topic {topic!r}: use 1-128 characters of A-Z a-z 0-9 _ . - "
            f"(optionally followed by {DEAD_SUFFIX!r})"
        )
    return topic


def dead_letter_topic(topic: str) -> str:
    """The topic that receives ``topic``'s dead letters (``<topic>:dead``)."""
    return validate_topic(topic) + DEAD_SUFFIX


def source_topic(topic: str) -> str | None:
    """For a dead-letter topic, the topic it serves; otherwise ``None``."""
    validate_topic(topic)
    return topic[: -len(DEAD_SUFFIX)] if topic.endswith(DEAD_SUFFIX) else None


def validate_priority(priority: object) -> int:
    """An ``int`` (not ``bool``) in [-2**31, 2**31 - 1]; higher runs first."""
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InvalidArgument(f"priority must be an int, not {type(priority).__name__}")
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise InvalidArgument(f"priority {priority} is outside [{MIN_PRIORITY}, {MAX_PRIORITY}]")
    return priority


def validate_job_id(job_id: object) -> str:
    """1-128 printable ASCII characters without whitespace."""
    if not isinstance(job_id, str):
        raise InvalidArgument(f"job id must be a str, not {type(job_id).__name__}")
    if not _JOB_ID.fullmatch(job_id):
        raise InvalidArgument(
            f"invalid job id {job_id!r}: use 1-{MAX_JOB_ID_LENGTH} printable ASCII "
            "characters without whitespace"
        )
    return job_id


def validate_payload(payload: object, limit: int) -> bytes:
    """Bytes-like (``bytes``, ``bytearray``, ``memoryview``) of at most
    ``limit`` bytes; returned as immutable ``bytes``."""
    if isinstance(payload, bytes):
        data = payload
    elif isinstance(payload, bytearray | memoryview):
        data = bytes(payload)
    else:
        raise InvalidArgument(
            f"payload must be bytes-like, not {type(payload).__name__}; "
            "encode it first (for example json.dumps(...).encode())"
        )
    if len(data) > limit:
        raise PayloadTooLarge(len(data), limit)
    return data


def validate_duration(
    name: str, value: object, *, minimum: float = 0.0, allow_zero: bool = True
) -> float:
    """A finite number of seconds, at least ``minimum`` (strictly above it
    when ``allow_zero`` is false)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"{name} must be a number of seconds, not {type(value).__name__}")
    seconds = float(value)
    if not math.isfinite(seconds):
        raise InvalidArgument(f"{name} must be finite, not {value!r}")
    if seconds < minimum or (not allow_zero and seconds <= minimum):
        bound = "at least" if allow_zero else "more than"
        raise InvalidArgument(f"{name} must be {bound} {minimum} seconds, not {value!r}")
    return seconds


def validate_max_attempts(value: object) -> int:
    """A positive int: how many claims a job gets before it is dead-lettered."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument(f"max_attempts must be an int >= 1, not {value!r}")
    return value
