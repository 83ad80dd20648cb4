"""Redis-only: enqueue from threads without an event loop (the sync
producer's fast path): same semantics as the async enqueue."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from queue_core import BackendUnavailable, NewJob, SyncQueueService, validate_headers
from queue_redis import RedisDriver, make_client
from tests.redis_support import free_port, unique_topic

pytestmark = pytest.mark.redis


def _driver(url: str) -> RedisDriver:
    return RedisDriver(make_client(url), owns_client=True)


def test_a_standalone_client_enqueues_from_threads(redis_url: str) -> None:
    driver = _driver(redis_url)
    assert driver.capabilities.blocking_enqueue
    topic = unique_topic()
    headers = validate_headers({"tenant": "acme"})
    jobs = [NewJob(id="a", payload=b"1", headers=headers, idempotency_window=60)]
    assert driver.enqueue_blocking(topic, jobs) == [True]
    assert driver.enqueue_blocking(topic, jobs) == [False]  # idempotent, as async
    errors: list[BaseException] = []

    def producer(n: int) -> None:
        try:
            for i in range(50):
                driver.enqueue_blocking(topic, [NewJob(id=f"t{n}-{i}", payload=b"x")])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=producer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []

    async def check() -> None:
        counts = await driver.counts(topic)
        assert counts.ready == 1 + 8 * 50
        job = await driver.get(topic, "a")
        assert job is not None
        assert dict(job.headers) == {"tenant": "acme"}
        await driver.close()

    asyncio.run(check())


def test_a_flushed_script_is_loaded_again(redis_url: str) -> None:
    driver = _driver(redis_url)
    topic = unique_topic()
    assert driver.enqueue_blocking(topic, [NewJob(id="a", payload=b"")]) == [True]

    async def flush_and_close(flush: bool) -> None:
        client: Any = make_client(redis_url)
        if flush:
            await client.script_flush()
        await client.aclose()

    asyncio.run(flush_and_close(True))
    assert driver.enqueue_blocking(topic, [NewJob(id="b", payload=b"")]) == [True]
    asyncio.run(driver.close())


def test_a_refused_connection_is_backend_unavailable_with_the_address() -> None:
    port = free_port()
    driver = _driver(f"redis://127.0.0.1:{port}/0")
    with pytest.raises(BackendUnavailable) as caught:
        driver.enqueue_blocking("t", [NewJob(id="a", payload=b"")])
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "refused" in str(caught.value)
    asyncio.run(driver.close())


def test_a_cluster_client_uses_the_event_loop_path(redis_cluster_url: str) -> None:
    port = redis_cluster_url.split(":")[-1].split("/")[0]
    driver = _driver(f"redis+cluster://127.0.0.1:{port}")
    assert not driver.capabilities.blocking_enqueue
    asyncio.run(driver.close())
    with SyncQueueService(f"redis+cluster://127.0.0.1:{port}") as queue:
        topic = unique_topic()
        assert queue.enqueue_result(topic, b"x").created  # through the loop thread
        assert queue.counts(topic).ready == 1
