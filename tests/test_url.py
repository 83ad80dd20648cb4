"""Drivers and services from URLs: every scheme this distribution registers,
bad URLs (a typed error naming the part that is wrong), ``$QUEUE_URL``,
services that own their driver and client, and the entry point lookup with
a third-party driver (the example SQLite driver) registering ``sqlite://``
through a real ``*.dist-info`` directory on ``sys.path``."""

from __future__ import annotations

import importlib
import importlib.metadata
import uuid
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis, RedisCluster

from examples.sqlite_driver import SQLiteDriver
from queue_core import (
    Clock,
    Driver,
    FakeClock,
    Hooks,
    InvalidArgument,
    QueueOptions,
    QueueService,
    driver_schemes,
    open_driver,
    open_service,
)
from queue_memory import MemoryDriver
from queue_redis import RedisDriver
from tests.fakes import async_test


def test_the_schemes_of_this_distribution_are_registered() -> None:
    schemes = driver_schemes()
    assert schemes["memory"] == "queue_memory._url:driver_from_url"
    for name in ("redis", "rediss", "unix", "redis+sentinel", "redis+cluster"):
        assert schemes[name] == "queue_redis._url:driver_from_url"


def test_memory_urls() -> None:
    driver = open_driver("memory://")
    assert isinstance(driver, MemoryDriver)
    assert open_driver("memory://") is not driver  # a fresh store each time
    tuned = open_driver("MEMORY://?max_batch=7&max_payload_bytes=100")
    assert tuned.capabilities.max_batch == 7
    assert tuned.capabilities.max_payload_bytes == 100
    clock = FakeClock()
    timed = open_driver("memory://", clock=clock)
    assert isinstance(timed, MemoryDriver)
    assert timed.clock is clock


@pytest.mark.parametrize(
    ("url", "client_type", "where"),
    [
        ("redis://user:pw@example.com:6380/2", Redis, {"host": "example.com", "db": 2}),
        ("rediss://example.com/0?ssl_cert_reqs=none", Redis, {"host": "example.com"}),
        ("unix:///run/redis.sock?db=3", Redis, {"path": "/run/redis.sock", "db": 3}),
        ("redis+sentinel://a:26379,b:26380/mymaster/1", Redis, {"db": 1}),
        ("redis+cluster://a:7000,b:7001", RedisCluster, {}),
    ],
)
def test_redis_urls_give_a_driver_that_owns_its_client(
    url: str, client_type: type[Any], where: dict[str, object]
) -> None:
    driver = open_driver(url)
    assert isinstance(driver, RedisDriver)
    assert isinstance(driver.client, client_type)
    assert driver._owns_client  # closing the driver closes the client
    options = driver.client.get_connection_kwargs()
    for name, value in where.items():
        assert options[name] == value


def test_query_parameters_reach_the_redis_driver() -> None:
    driver = open_driver("redis://h/0?prefix=app1&command_timeout=3")
    assert isinstance(driver, RedisDriver)
    assert driver._prefix == "app1"


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("", "no scheme"),
        ("localhost:6379", "no scheme"),
        ("://host", "no scheme"),
        ("mysql://h/db", "unknown queue URL scheme 'mysql'"),
        ("redis://h:port/0", "port 'port'"),
        ("redis://h/zero", "database 'zero'"),
        ("redis://h/0?prefx=a", "unknown query parameter 'prefx'"),
        ("redis+sentinel://a:26379", "no service name"),
        ("unix://", "no socket path"),
        ("memory://somewhere", "no host or path"),
        ("memory:///path", "no host or path"),
        ("memory://?max_batch=0", "max_batch='0'"),
        ("memory://?max_batch=ten", "max_batch='ten'"),
        ("memory://?size=1", "unknown query parameter 'size'"),
    ],
)
def test_bad_urls_name_the_part_that_is_wrong(url: str, named: str) -> None:
    with pytest.raises(InvalidArgument, match=named.replace("?", r"\?").replace("+", r"\+")):
        open_service(url)


def test_an_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(InvalidArgument) as caught:
        open_driver("postgres://db/jobs")
    message = str(caught.value)
    assert "memory://" in message
    assert "redis://" in message
    assert "queue_toolkit.drivers" in message  # how another backend registers one


def test_errors_never_show_a_password() -> None:
    with pytest.raises(InvalidArgument) as caught:
        open_driver("redis://user:s3cret@h:nope/0")
    assert "s3cret" not in str(caught.value)
    with pytest.raises(InvalidArgument) as unknown:
        open_driver("nosuch://user:s3cret@h/0")
    assert "s3cret" not in str(unknown.value)


def _only_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entry points as if the redis extra's drivers were not installed."""
    real = importlib.metadata.entry_points

    def fake(*, group: str) -> importlib.metadata.EntryPoints:
        found = real(group=group)
        return importlib.metadata.EntryPoints(p for p in found if p.name == "memory")

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)


def test_a_redis_url_without_the_redis_driver_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _only_memory(monkeypatch)
    with pytest.raises(InvalidArgument) as caught:
        open_service("redis://localhost:6379/0")
    message = str(caught.value)
    assert "unknown queue URL scheme 'redis'" in message
    assert "memory://" in message
    assert "pip install 'queue-toolkit[redis]'" in message


def test_the_url_comes_from_queue_url_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUEUE_URL", "memory://?max_batch=3")
    service = open_service()
    assert isinstance(service.driver, MemoryDriver)
    assert service.driver.capabilities.max_batch == 3
    monkeypatch.delenv("QUEUE_URL")
    with pytest.raises(InvalidArgument, match=r"no queue URL: pass one or set \$QUEUE_URL"):
        open_service()
    monkeypatch.setenv("QUEUE_URL", "   ")
    with pytest.raises(InvalidArgument, match="no queue URL"):
        open_driver()


def test_bad_arguments_are_refused_before_a_driver_is_made() -> None:
    with pytest.raises(InvalidArgument, match="must be a str"):
        open_driver(b"memory://")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="options must be QueueOptions"):
        open_service("memory://", options={"max_attempts": 3})  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="hooks must be"):
        open_service("memory://", hooks=Hooks())  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="hooks must be queue_core.Hooks"):
        open_service("memory://", hooks=[object()])  # type: ignore[list-item]
    with pytest.raises(InvalidArgument, match="clock must be"):
        open_driver("memory://", clock=object())  # type: ignore[arg-type]
    service = open_service("memory://", options=QueueOptions(max_attempts=2), hooks=[Hooks()])
    assert service.options.max_attempts == 2


@async_test
async def test_a_memory_service_works_end_to_end() -> None:
    async with open_service("memory://", clock=FakeClock()) as service:
        job_id = await service.enqueue("t", b"x")
        job = await service.get("t", job_id)
        assert job is not None
        assert job.payload == b"x"
        assert job.enqueued_at == FakeClock().now()


async def _client_names(url: str) -> list[str]:
    client = Redis.from_url(url)
    try:
        listing = await client.client_list()
    finally:
        await client.aclose()
    return [entry.get("name", "") for entry in listing]


@pytest.mark.redis
@async_test
async def test_a_redis_service_owns_its_client_and_closes_it(redis_url: str) -> None:
    name = f"qtk-owned-{uuid.uuid4().hex[:8]}"
    prefix = f"url{uuid.uuid4().hex[:8]}"
    service = open_service(f"{redis_url}?client_name={name}&prefix={prefix}")
    job_id = await service.enqueue("t", b"payload")
    assert (await service.counts("t")).ready == 1
    assert await service.topics() == ["t"]
    got = await service.get("t", job_id)
    assert got is not None
    assert got.payload == b"payload"
    assert name in await _client_names(redis_url)
    await service.close()
    assert name not in await _client_names(redis_url)


# -- a third-party driver registers a scheme --------------------------------------------


def sqlite_driver_from_url(url: str, *, clock: Clock | None = None) -> Driver:
    """``sqlite:///path/to/jobs.db`` -> the example SQLite driver (what a
    driver package puts behind its entry point)."""
    path = url.partition("://")[2]
    if not path:
        raise InvalidArgument(f"SQLite URL {url!r}: no database path (sqlite:///path/jobs.db)")
    return SQLiteDriver(path, clock=clock)


@pytest.fixture
def sqlite_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed distribution as pip leaves it: a ``*.dist-info`` directory
    on ``sys.path`` whose ``entry_points.txt`` registers ``sqlite``."""
    site = tmp_path / "site"
    info = site / "queue_sqlite_example-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: queue-sqlite-example\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[queue_toolkit.drivers]\nsqlite = tests.test_url:sqlite_driver_from_url\n"
    )
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    return tmp_path


@async_test
async def test_a_driver_package_registers_its_scheme_by_entry_point(
    sqlite_distribution: Path,
) -> None:
    assert driver_schemes()["sqlite"] == "tests.test_url:sqlite_driver_from_url"
    url = f"sqlite://{sqlite_distribution / 'jobs.db'}"
    service = open_service(url)
    assert isinstance(service.driver, SQLiteDriver)
    try:
        await service.enqueue("reports", b"monthly")
        assert (await service.counts("reports")).ready == 1
    finally:
        await service.close()
    reopened = open_service(url)  # the file kept the job
    try:
        assert (await reopened.counts("reports")).ready == 1
    finally:
        await reopened.close()
    with pytest.raises(InvalidArgument, match="no database path"):
        open_driver("sqlite://")


def test_without_the_distribution_the_scheme_is_unknown() -> None:
    assert "sqlite" not in driver_schemes()
    with pytest.raises(InvalidArgument, match="unknown queue URL scheme 'sqlite'"):
        open_driver("sqlite:///tmp/jobs.db")


def _install_points(monkeypatch: pytest.MonkeyPatch, site: Path, line: str) -> None:
    info = site / "broken_driver-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-driver\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[queue_toolkit.drivers]\n{line}\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()


def test_a_driver_that_cannot_be_imported_is_an_import_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_points(monkeypatch, tmp_path, "nosuch = no_such_driver_module:driver_from_url")
    with pytest.raises(ImportError, match=r"nosuch:// URLs .*no_such_driver_module"):
        open_driver("nosuch://x")


def make_not_a_driver(url: str, *, clock: Clock | None = None) -> object:
    return object()


def test_a_factory_that_returns_no_driver_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_points(monkeypatch, tmp_path, "odd = tests.test_url:make_not_a_driver")
    with pytest.raises(InvalidArgument, match="returned object, not a Driver"):
        open_driver("odd://x")


def test_open_service_is_a_plain_queue_service() -> None:
    service = open_service("memory://")
    assert type(service) is QueueService
