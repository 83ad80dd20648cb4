"""queue_redis: the durable Redis backend for queue_core.

One Lua script per atomic operation, every key of a topic under one hash
tag, time from the server's clock. The simplest start is a URL (the service
then owns and closes its client)::

    from queue_core import open_service

    service = open_service("redis://localhost:6379/0")

or a client of your own, built with the settings the driver relies on::

    from queue_core import QueueService
    from queue_redis import RedisDriver, make_client

    service = QueueService(RedisDriver(make_client("redis://localhost:6379/0")))

See ``docs/redis.md`` for the key layout, durability and cluster notes.
"""

from ._diagnostics import Diagnostics
from ._driver import RedisDriver
from ._keys import topic_keys
from ._url import CLIENT_DEFAULTS, driver_from_url, make_client, recommended_retry

__all__ = [
    "CLIENT_DEFAULTS",
    "Diagnostics",
    "RedisDriver",
    "driver_from_url",
    "make_client",
    "recommended_retry",
    "topic_keys",
]
