"""Shared fixtures. Redis: session-wide servers of the tests' own on free
ports (see ``redis_support.py``); ``REDIS_URL`` (and ``REDIS_CLUSTER_URL``)
use existing servers instead; without a ``redis-server`` binary,
testcontainers starts one in Docker when it can. Under ``CI=true`` a
missing Redis fails the tests that need it instead of skipping them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_support import (
    RedisClusterProcess,
    RedisServer,
    have_redis_binary,
    temp_dir,
    unavailable,
)


@pytest.fixture(scope="session")
def redis_dir() -> Iterator[Path]:
    """A temp dir for the servers of this session (removed at the end)."""
    with temp_dir() as path:
        yield path


def _container_url() -> Iterator[str]:
    try:
        from testcontainers.redis import RedisContainer  # type: ignore[import-not-found]
    except ImportError:
        unavailable("no redis-server binary, no REDIS_URL, and testcontainers is not installed")
    try:
        container = RedisContainer("redis:7")
        container.start()
    except Exception as exc:  # no Docker daemon, no image...
        unavailable(f"no redis-server binary and Docker failed: {exc!r}")
    try:
        host = container.get_container_host_ip()
        yield f"redis://{host}:{container.get_exposed_port(6379)}/0"
    finally:
        container.stop()


@pytest.fixture(scope="session")
def redis_standalone(redis_dir: Path) -> Iterator[RedisServer | None]:
    """The session's standalone server when the tests own it (AOF
    ``everysec``, so a clean restart keeps every job); ``None`` when it
    comes from ``REDIS_URL`` or a container (then :func:`redis_url` says
    where)."""
    if os.environ.get("REDIS_URL") or not have_redis_binary():
        yield None
        return
    server = RedisServer(redis_dir / "standalone", aof=True, fsync="everysec")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_standalone: RedisServer | None) -> Iterator[str]:
    """A standalone Redis for the whole session."""
    if redis_standalone is not None:
        yield redis_standalone.url
    elif url := os.environ.get("REDIS_URL"):
        yield url
    else:
        yield from _container_url()


@pytest.fixture(scope="session")
def redis_cluster_url(redis_dir: Path) -> Iterator[str]:
    """A node of a 3-primary Redis Cluster for the whole session."""
    if url := os.environ.get("REDIS_CLUSTER_URL"):
        yield url
        return
    if not have_redis_binary():
        unavailable("the cluster tests need redis-server and redis-cli (or REDIS_CLUSTER_URL)")
    cluster = RedisClusterProcess(redis_dir / "cluster")
    try:
        cluster.start()
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A standalone Redis of this test's own, with AOF ``appendfsync
    always``, that the test may stop, kill and restart."""
    if not have_redis_binary():
        unavailable("restart tests need a redis-server binary")
    server = RedisServer(tmp_path / "aof", aof=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()
