"""Redis-only: a 3-primary Redis Cluster."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import RedisCluster

from queue_core import Job, NewJob, QueueService, SubscribeOptions
from queue_redis import RedisDriver, topic_keys
from tests.redis_support import connect, unique_topic

pytestmark = pytest.mark.redis


def test_every_key_of_a_topic_maps_to_one_slot(redis_cluster_url: str) -> None:
    async def main() -> None:
        async with connect(redis_cluster_url, cluster=True) as client:
            assert isinstance(client, RedisCluster)
            driver = RedisDriver(client)
            topic = unique_topic()
            keys = topic_keys("queue", topic)
            names = [*keys.all, *keys.dead.all, *keys.dead.dead.all]
            names += [keys.claim_cache("r"), keys.request("r"), keys.fence]
            slots = {client.keyslot(name) for name in names}
            assert len(slots) == 1
            # the server agrees, and every key the scripts made is among them
            await driver.enqueue(topic, [NewJob(id="a", payload=b"x"), NewJob(id="b", payload=b"")])
            (job,) = await driver.claim(topic, max_jobs=1, lease=5)
            await driver.dead_letter(topic, job.id, job.lease_token or "", error="e")
            node = client.get_node_from_key(keys.jobs)
            made = await client.execute_command("KEYS", f"queue:{{{topic}}}*", target_nodes=node)
            made = {name.decode() for name in made}
            assert made
            assert made <= set(names) | {n for n in made if ":claim:" in n or ":req:" in n}
            for name in made:
                slot = await client.execute_command("CLUSTER", "KEYSLOT", name, target_nodes=node)
                assert slot in slots
            await driver.close()

    asyncio.run(main())


def test_topics_on_different_nodes_work_at_once(redis_cluster_url: str) -> None:
    async def main() -> None:
        async with connect(redis_cluster_url, cluster=True) as client:
            assert isinstance(client, RedisCluster)
            await client.initialize()
            topics: dict[str, str] = {}  # node name -> topic
            while len(topics) < 3:
                topic = unique_topic()
                node = client.get_node_from_key(topic_keys("queue", topic).jobs)
                assert node is not None
                topics.setdefault(node.name, topic)
            service = QueueService(RedisDriver(client))
            per_topic = 40
            seen: dict[str, set[str]] = {topic: set() for topic in topics.values()}
            done = asyncio.Event()

            async def handle(job: Job) -> None:
                seen[job.topic].add(job.id)
                if all(len(ids) == per_topic for ids in seen.values()):
                    done.set()

            options = SubscribeOptions(concurrency=4, poll_interval=30.0)
            consumers = [await service.subscribe(t, handle, options) for t in topics.values()]
            await asyncio.sleep(0.2)  # consumers idle in their blocking waits
            await asyncio.gather(
                *(service.enqueue_many(t, [b"p"] * per_topic) for t in topics.values())
            )
            # pushed wake-ups (the poll interval is 30 s) on every node
            await asyncio.wait_for(done.wait(), 20.0)
            for consumer in consumers:
                await consumer.close()
            await service.close()

    asyncio.run(main())


def test_diagnostics_on_a_cluster(redis_cluster_url: str) -> None:
    async def main() -> None:
        async with connect(redis_cluster_url, cluster=True) as client:
            report = await RedisDriver(client).diagnostics()
            assert report.cluster
            assert report.primaries == 3
            assert report.version

    asyncio.run(main())
