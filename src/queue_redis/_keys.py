"""Key names. Every key of topic ``t``, of its dead-letter topic ``t:dead``
(and of ``t:dead:dead``...) shares the hash tag ``{t}``, so they live in one
Redis Cluster slot and a dead-letter move or a redrive is one script.

Layout for ``prefix = "queue"``, topic ``orders``::

    queue:{orders}:jobs        HASH  job id -> small fields (state, priority, ...)
                                     then the headers and the payload bytes
    queue:{orders}:errors      HASH  job id -> last error
    queue:{orders}:ready       ZSET  due jobs in claim order
    queue:{orders}:scheduled   ZSET  jobs not yet due, by due time
    queue:{orders}:inflight    ZSET  leased jobs, by lease deadline
    queue:{orders}:seq         STRING the topic's enqueue sequence
    queue:{orders}:notify      LIST  wake-up tokens (bounded)
    queue:{orders}:done        ZSET  idempotency records: id, scored by expiry
    queue:{orders}:cancel      SET   in-flight jobs with a cancel request
    queue:{orders}:limits      HASH  the topic's limits (max, rate, per)
    queue:{orders}:rate        ZSET  recent claims (the rate window)
    queue:{orders}:claim:<rid> STRING a claim's result, kept a few seconds
    queue:{orders}:req:<rid>   STRING another call's answer, kept a few seconds
    queue:{orders}:dead:jobs   ... the same roles for ``orders:dead``
    queue:{orders}:fence       STRING the family's fencing counter (shared
                                     by ``orders``, ``orders:dead``, ...)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from queue_core import DEAD_SUFFIX, InvalidArgument, base_topic, validate_topic

__all__ = [
    "TopicKeys",
    "seq_pattern",
    "topic_keys",
    "topic_of_seq_key",
    "validate_prefix",
]

ROLES: Final = (
    "jobs",
    "errors",
    "ready",
    "scheduled",
    "inflight",
    "seq",
    "notify",
    "done",
    "cancel",
    "limits",
    "rate",
)
_PREFIX = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")


def validate_prefix(prefix: object) -> str:
    """1-64 characters of ``A-Z a-z 0-9 _ . - :`` (no braces: the hash tag
    must be the topic's)."""
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise InvalidArgument(f"invalid key prefix {prefix!r}: use 1-64 of A-Z a-z 0-9 _ . - :")
    return prefix


@dataclass(frozen=True, slots=True)
class TopicKeys:
    """The keys of one topic, in the order every script expects them."""

    topic: str
    stem: str  # "<prefix>:{<base>}<:dead...>"
    family: str  # "<prefix>:{<base>}": the part every topic of the family shares
    all: tuple[str, ...] = field(init=False, repr=False, compare=False)
    """The keys of ``KEYS[i..i+10]`` in the scripts (one per role)."""
    with_dead: tuple[str, ...] = field(init=False, repr=False, compare=False)
    """:attr:`all`, then the dead-letter topic's :attr:`all`, then the
    family's fencing counter."""

    def __post_init__(self) -> None:
        dead = self.stem + DEAD_SUFFIX
        keys = tuple(f"{self.stem}:{role}" for role in ROLES)
        object.__setattr__(self, "all", keys)
        dead_keys = tuple(f"{dead}:{role}" for role in ROLES)
        object.__setattr__(self, "with_dead", keys + dead_keys + (self.fence,))

    @property
    def fence(self) -> str:
        """The family's fencing counter."""
        return f"{self.family}:fence"

    @property
    def jobs(self) -> str:
        return f"{self.stem}:jobs"

    @property
    def notify(self) -> str:
        return f"{self.stem}:notify"

    def claim_cache(self, request_id: str) -> str:
        return f"{self.stem}:claim:{request_id}"

    def request(self, request_id: str) -> str:
        """The key that keeps a re-sendable call's answer for a while."""
        return f"{self.stem}:req:{request_id}"

    @property
    def dead(self) -> TopicKeys:
        """The keys of this topic's dead-letter topic."""
        return TopicKeys(self.topic + DEAD_SUFFIX, self.stem + DEAD_SUFFIX, self.family)


def topic_keys(prefix: str, topic: str) -> TopicKeys:
    """The keys of ``topic`` (validated: no braces, whitespace or controls)."""
    validate_topic(topic)
    base = base_topic(topic)
    family = f"{prefix}:{{{base}}}"
    return TopicKeys(topic, family + topic[len(base) :], family)


def seq_pattern(prefix: str) -> str:
    """A ``SCAN MATCH`` pattern for the sequence key of every base topic
    (one per topic that has had a job; dead-letter topics do not match)."""
    return f"{prefix}:{{*}}:seq"


def topic_of_seq_key(prefix: str, key: str) -> str | None:
    """The base topic whose sequence key is ``key``, or ``None`` for a key
    that is not one (the prefix's charset has no glob characters)."""
    head, tail = f"{prefix}:{{", "}:seq"
    if not (key.startswith(head) and key.endswith(tail)):
        return None
    topic = key[len(head) : -len(tail)]
    try:
        validate_topic(topic)
    except InvalidArgument:
        return None
    return None if topic.endswith(DEAD_SUFFIX) else topic
