"""queue_redis: the durable Redis backend for queue_core.

One Lua script per atomic operation, every key of a topic under one hash
tag, time from the server's clock. The caller owns the client::

    from redis.asyncio import Redis
    from queue_core import QueueService
    from queue_redis import RedisDriver

    service = QueueService(RedisDriver(Redis.from_url("redis://localhost:6379/0")))

See ``docs/redis.md`` for the key layout, durability and cluster notes.
"""

from ._diagnostics import Diagnostics
from ._driver import RedisDriver
from ._keys import base_topic, topic_keys

__all__ = ["Diagnostics", "RedisDriver", "base_topic", "topic_keys"]
