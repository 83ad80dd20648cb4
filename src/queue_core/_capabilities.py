"""What a driver can do, declared as data."""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import InvalidArgument

__all__ = ["Capabilities"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Capabilities:
    """Declared by every driver; read by the runtime and the conformance kit.

    * ``max_payload_bytes``: the largest payload the driver accepts (the
      runtime rejects larger ones before calling it).
    * ``max_batch``: the most jobs one ``enqueue``/``claim``/``ack_many``
      call takes (the runtime splits larger batches).
    * ``clock_control``: the driver reads time from an injectable
      :class:`~queue_core.Clock` (for example a ``FakeClock``) instead of its
      own, so tests and the kit can move time by hand.
    * ``persistent``: jobs survive a restart of the process that enqueued them.
    * ``push_wakeup``: :meth:`Driver.wait` returns promptly after an enqueue
      (otherwise consumers only poll).
    * ``idempotency_records``: the driver remembers an id for its job's
      ``idempotency_window`` after the job ends, so that an enqueue of the
      same id in that time creates nothing (:meth:`Driver.enqueue`).
    * ``list_topics``: :meth:`Driver.topics` lists the topics.
    * ``cancellation``: :meth:`Driver.cancel` and :meth:`Driver.cancel_requested`.
    * ``limits``: :meth:`Driver.set_limits`: in-flight and rate limits per
      topic, enforced inside the claim across every consumer.
    * ``blocking_enqueue``: :meth:`Driver.enqueue_blocking` enqueues from a
      thread without an event loop (the sync producer's fast path).

    A method whose capability is false raises :class:`~queue_core.Unsupported`.
    """

    max_payload_bytes: int = 1024 * 1024
    max_batch: int = 1000
    clock_control: bool = False
    persistent: bool = False
    push_wakeup: bool = True
    idempotency_records: bool = False
    list_topics: bool = False
    cancellation: bool = False
    limits: bool = False
    blocking_enqueue: bool = False

    def __post_init__(self) -> None:
        if self.max_payload_bytes < 0 or self.max_batch < 1:
            raise InvalidArgument("max_payload_bytes must be >= 0 and max_batch >= 1")
