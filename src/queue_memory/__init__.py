"""queue_memory: the in-process reference backend for queue_core.

Real semantics (leases, delays, priorities, retries, dead letters), no
dependencies, deterministic under a :class:`~queue_core.FakeClock`. Use it in
application tests and as the reference the conformance kit compares drivers
against::

    service = QueueService(MemoryDriver())
"""

from ._driver import MemoryDriver
from ._testing import RunReport, run_until_idle
from ._url import driver_from_url

__all__ = ["MemoryDriver", "RunReport", "driver_from_url", "run_until_idle"]
