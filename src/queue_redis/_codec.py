"""Turning script replies into :class:`~queue_core.Job` records and job
fields into script arguments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final

from queue_core import EMPTY_HEADERS, Job, JobState, to_ms

__all__ = [
    "MAX_MS",
    "STATE_CODES",
    "clamp_ms",
    "claim_order",
    "decode_error",
    "decode_headers",
    "encode_error",
    "encode_headers",
    "jobs_from_reply",
]

MAX_MS: Final = 2**53 - 1  # times beyond this (year 287396) are clamped
_STATES: Final = {b"r": JobState.READY, b"s": JobState.SCHEDULED, b"f": JobState.IN_FLIGHT}
STATE_CODES: Final = {JobState.READY: "r", JobState.SCHEDULED: "s", JobState.IN_FLIGHT: "f"}


def clamp_ms(seconds: float) -> int:
    """Seconds to whole milliseconds, within what a script keeps exactly."""
    return max(0, min(to_ms(seconds), MAX_MS))


def encode_error(error: str | None) -> list[str | bytes]:
    """The two ARGV entries that carry an optional error text."""
    if error is None:
        return ["0", ""]
    return ["1", error.encode("utf-8", "surrogatepass")]


def decode_error(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "surrogatepass")


# Headers are stored as name US value RS name US value ...: names are
# [A-Za-z0-9_.-] and values have no control characters (validated), so the
# separators never occur inside them.
_US: Final = "\x1f"
_RS: Final = "\x1e"


def encode_headers(headers: Mapping[str, str]) -> bytes:
    if not headers:
        return b""
    return _RS.join(f"{name}{_US}{value}" for name, value in headers.items()).encode("utf-8")


def decode_headers(raw: bytes) -> Mapping[str, str]:
    if not raw:
        return EMPTY_HEADERS
    pairs = (entry.split(_US, 1) for entry in raw.decode("utf-8").split(_RS))
    return MappingProxyType({name: value for name, value in pairs})


def _job(topic: str, job_id: bytes, meta: bytes, body: bytes | None, error: bytes | None) -> Job:
    (
        state,
        prio,
        max_attempts,
        enqueued,
        due,
        _seq,
        attempt,
        fence,
        deadline,
        token,
        _window,
        hlen,
    ) = meta.split(b"|")
    in_flight = state == b"f"
    body = body or b""
    cut = int(hlen) if hlen else 0
    return Job(
        id=job_id.decode(),
        topic=topic,
        payload=body[cut:] if cut else body,
        headers=decode_headers(body[:cut]) if cut else EMPTY_HEADERS,
        priority=int(prio),
        attempt=int(attempt) if attempt else 0,
        max_attempts=int(max_attempts),
        enqueued_at=int(enqueued, 16) / 1000.0,
        run_at=int(due, 16) / 1000.0,
        state=_STATES[state],
        last_error=None if error is None else error.decode("utf-8", "surrogatepass"),
        lease_token=token.decode() if in_flight else None,
        lease_deadline=int(deadline, 16) / 1000.0 if in_flight else None,
        fencing_token=int(fence) if fence else 0,
    )


def jobs_from_reply(topic: str, reply: Sequence[bytes | None]) -> list[Job]:
    """Jobs from a flat ``id, meta, payload, error`` reply."""
    it = iter(reply)
    return [
        _job(topic, job_id, meta, payload, error)  # type: ignore[arg-type]
        for job_id, meta, payload, error in zip(it, it, it, it, strict=True)
    ]


def claim_order(reply: Sequence[bytes | None]) -> list[str]:
    """The ids of a flat ``id, meta, payload, error`` reply that are not in
    flight, ready ones in claim order first, then scheduled ones by due
    time (sequence breaks ties in both)."""
    ranked = []
    for i in range(0, len(reply), 4):
        job_id, meta = reply[i], reply[i + 1]
        assert job_id is not None
        assert meta is not None
        state, prio, _, _, due, seq = meta.split(b"|")[:6]
        if state == b"r":
            ranked.append(((0, -int(prio), int(due, 16), int(seq)), job_id.decode("ascii")))
        elif state == b"s":
            ranked.append(((1, 0, int(due, 16), int(seq)), job_id.decode("ascii")))
    ranked.sort()
    return [job_id for _, job_id in ranked]
