"""Redis URLs, the recommended client, and what diagnostics() says about a
client built otherwise."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis, RedisCluster

from queue_core import BackendUnavailable, InvalidArgument, NewJob
from queue_redis import RedisDriver, driver_from_url, make_client
from tests.redis_support import RedisSentinel, RedisServer, free_port, unique_topic


def kwargs_of(client: Redis | RedisCluster) -> dict[str, object]:
    return dict(client.get_connection_kwargs())


def test_a_plain_url_gives_the_recommended_settings() -> None:
    client = make_client("redis://user:s3cret@example.com:6380/2")
    assert isinstance(client, Redis)
    options = kwargs_of(client)
    assert (options["host"], options["port"], options["db"]) == ("example.com", 6380, 2)
    assert (options["username"], options["password"]) == ("user", "s3cret")
    assert options["socket_connect_timeout"] == 2.0
    assert options["socket_timeout"] is None  # the driver's command timeout bounds each call
    assert options["decode_responses"] is False
    retry = client.get_retry()
    assert retry is not None
    assert retry.get_retries() == 2


def test_query_parameters_reach_the_client_and_the_driver() -> None:
    url = "rediss://h/0?prefix=jobs&command_timeout=3&socket_timeout=4.5&ssl_cert_reqs=none"
    driver = driver_from_url(url)
    options = kwargs_of(driver.client)
    assert options["socket_timeout"] == 4.5
    assert options["ssl_cert_reqs"] == "none"
    assert driver._prefix == "jobs"
    assert driver._command_timeout == 3.0


def test_a_unix_socket_url() -> None:
    client = make_client("unix:///run/redis/redis.sock?db=3")
    options = kwargs_of(client)
    assert (options["path"], options["db"]) == ("/run/redis/redis.sock", 3)


def test_a_cluster_url_lists_its_startup_nodes() -> None:
    client = make_client("redis+cluster://a:7000,b:7001")
    assert isinstance(client, RedisCluster)
    nodes = client.startup_nodes
    assert sorted(node.name for node in nodes) == ["a:7000", "b:7001"]


@pytest.mark.parametrize(
    ("url", "names"),
    [
        ("redis://h:abc/0", "port 'abc'"),
        ("redis://h:70000", "port '70000'"),
        ("redis://h/zero", "database 'zero'"),
        ("redis://h/0/1", "database '0/1'"),
        ("redis://h/0?prefx=a", "unknown query parameter 'prefx'"),
        ("redis://h/0?socket_timeout=soon", "socket_timeout='soon'"),
        ("redis://h/0?max_batch=1.5", "max_batch='1.5'"),
        ("redis://h/0?prefix=a{b}", "prefix"),
        ("redis://h/0?block_timeout=0", "block_timeout"),
        ("redis://h/0?ssl_certfile=x", "ssl_* parameters need rediss"),
        ("redis://h/0?password=x", "put the password in the URL"),
        ("redis://a,b/0", "several hosts"),
        ("redis+sentinel://a:26379", "no service name"),
        ("redis+cluster://a:7000/3", "database 0 only"),
        ("unix://", "no socket path"),
        ("redis://:@/0", "empty host"),
        ("localhost:6379", "no scheme"),
        ("mysql://h", "unknown scheme 'mysql'"),
    ],
)
def test_a_bad_url_names_the_part_that_is_wrong(url: str, names: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        driver_from_url(url)
    assert names in str(caught.value)


def test_a_password_is_never_shown_in_an_error() -> None:
    with pytest.raises(InvalidArgument) as caught:
        make_client("redis://me:hunter2@h:nope/0")
    assert "hunter2" not in str(caught.value)
    assert "me:***@h" in str(caught.value)


def test_a_sentinel_password_is_never_shown_in_an_error() -> None:
    with pytest.raises(InvalidArgument) as caught:
        make_client("redis+sentinel://h:26379/mymaster?sentinel_password=hunter2&bogus=1")
    assert "hunter2" not in str(caught.value)
    assert "sentinel_password=***" in str(caught.value)


@pytest.mark.redis
def test_a_driver_from_a_url_owns_and_closes_its_client(redis_url: str) -> None:
    async def main() -> None:
        driver = driver_from_url(redis_url + "?prefix=owned")
        topic = unique_topic()
        await driver.enqueue(topic, [NewJob(id="a", payload=b"x")])
        assert (await driver.counts(topic)).ready == 1
        client = driver.client
        assert isinstance(client, Redis)
        await driver.close()
        pool = client.connection_pool
        assert not any(c.is_connected for c in pool._available_connections)
        assert not pool._in_use_connections
        # the owned client really is closed: the driver's keys live under its prefix
        other = make_client(redis_url)
        try:
            keys = await other.keys(f"owned:{{{topic}}}:*")
            assert keys, "the job was not written under the URL's prefix"
        finally:
            await other.aclose()

    asyncio.run(main())


@pytest.mark.redis
def test_a_refused_connection_fails_fast_with_the_address() -> None:
    port = free_port()

    async def main() -> None:
        driver = driver_from_url(f"redis://127.0.0.1:{port}/0")
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as caught:
            await driver.counts("t")
        elapsed = time.monotonic() - started
        await driver.close()
        message = str(caught.value)
        assert f"127.0.0.1:{port}" in message
        assert "refused" in message.lower()
        assert isinstance(caught.value.__cause__, Exception)
        assert elapsed < 2.5, f"a refused connection took {elapsed:.1f}s to fail"

    asyncio.run(main())


@pytest.mark.redis
def test_a_sentinel_url(redis_server: RedisServer, tmp_path: Path) -> None:
    sentinel = RedisSentinel(tmp_path / "sentinel", redis_server)
    sentinel.start()

    async def main() -> None:
        driver = driver_from_url(f"redis+sentinel://127.0.0.1:{sentinel.port}/master/0")
        try:
            topic = unique_topic()
            await driver.enqueue(topic, [NewJob(id="a", payload=b"x")])
            (job,) = await driver.claim(topic, max_jobs=1, lease=5)
            assert job.id == "a"
        finally:
            await driver.close()

    try:
        asyncio.run(main())
    finally:
        sentinel.stop()


@pytest.mark.redis
def test_a_cluster_url(redis_cluster_url: str) -> None:
    port = redis_cluster_url.split(":")[-1].split("/")[0]

    async def main() -> None:
        driver = driver_from_url(f"redis+cluster://127.0.0.1:{port}")
        try:
            topic = unique_topic()
            await driver.enqueue(topic, [NewJob(id="a", payload=b"x")])
            assert (await driver.counts(topic)).ready == 1
            assert topic in await driver.topics()
        finally:
            await driver.close()

    asyncio.run(main())


@pytest.mark.redis
def test_diagnostics_warn_about_a_client_built_without_the_settings(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> tuple[tuple[str, ...], tuple[str, ...]]:
        plain = Redis.from_url(redis_url)  # 5 s socket timeout, no re-send
        ours = make_client(redis_url)
        try:
            bad = await RedisDriver(plain).diagnostics()
            good = await RedisDriver(ours).diagnostics()
        finally:
            await plain.aclose()
            await ours.aclose()
        return bad.warnings, good.warnings

    with caplog.at_level(logging.WARNING, logger="queue_redis"):
        bad, good = asyncio.run(main())
    assert any("socket_timeout (5s) is shorter" in w for w in bad)
    assert any("does not re-send" in w for w in bad)
    assert not any("make_client" in w for w in good)
