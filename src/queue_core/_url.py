"""Drivers and services from URLs.

A URL's scheme names a driver factory, found through the entry point group
``queue_toolkit.drivers`` of the installed distributions: the value is
``module:callable`` with the signature ``(url: str, *, clock: Clock | None
= None) -> Driver``, and the driver it returns owns whatever it connects
(closing the driver closes it). This distribution registers ``memory`` and
the Redis schemes (``redis``, ``rediss``, ``unix``, ``redis+sentinel``,
``redis+cluster``); a third-party driver registers its own scheme in its
``pyproject.toml``::

    [project.entry-points."queue_toolkit.drivers"]
    sqlite = "my_package.driver:driver_from_url"
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, Protocol

from ._clock import Clock
from ._driver import Driver
from ._errors import InvalidArgument
from ._hooks import Hooks
from ._options import QueueOptions
from ._service import QueueService, check_service_args

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = [
    "DRIVERS_GROUP",
    "URL_ENV",
    "driver_schemes",
    "open_driver",
    "open_service",
    "redact_url",
]

logger = logging.getLogger("queue_core")

DRIVERS_GROUP: Final = "queue_toolkit.drivers"
"""The entry point group that maps URL schemes to driver factories."""

URL_ENV: Final = "QUEUE_URL"
"""The environment variable read when no URL is given."""

# schemes whose driver ships with an extra of this distribution
_EXTRAS: Final = {
    "redis": "redis",
    "rediss": "redis",
    "unix": "redis",
    "redis+sentinel": "redis",
    "redis+cluster": "redis",
}


class DriverFactory(Protocol):
    """What an entry point of :data:`DRIVERS_GROUP` names."""

    def __call__(self, url: str, *, clock: Clock | None = None) -> Driver: ...


def driver_schemes() -> dict[str, str]:
    """Every URL scheme the installed drivers register, mapped to the
    ``module:callable`` that opens it, sorted by scheme."""
    return {scheme: point.value for scheme, point in sorted(_entry_points().items())}


def _entry_points() -> dict[str, EntryPoint]:
    from importlib.metadata import entry_points  # not at import: it costs ~30 ms

    found: dict[str, EntryPoint] = {}
    for point in entry_points(group=DRIVERS_GROUP):
        scheme = point.name.lower()
        earlier = found.get(scheme)
        if earlier is None:
            found[scheme] = point
        elif earlier.value != point.value:
            logger.warning(
                "two drivers register the URL scheme %r: %s and %s; using the first",
                scheme,
                earlier.value,
                point.value,
            )
    return found


def _resolve_url(url: str | None) -> str:
    if url is None:
        url = os.environ.get(URL_ENV, "").strip()
        if not url:
            raise InvalidArgument(
                f"no queue URL: pass one or set ${URL_ENV} "
                "(for example redis://localhost:6379/0, or memory:// for one process)"
            )
    elif not isinstance(url, str):
        raise InvalidArgument(f"a queue URL must be a str, not {type(url).__name__}")
    return url


def _scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        raise InvalidArgument(
            f"queue URL {redact_url(url)!r} has no scheme: write it as scheme://..., for example "
            "redis://localhost:6379/0 or memory://"
        )
    return scheme.lower()


def redact_url(url: str) -> str:
    """``url`` for messages and logs: passwords (in the authority, or query
    parameters named like ``*password*``, ``*secret*``, ``*token*``)
    replaced by ``***``, at most 200 characters."""
    scheme, sep, rest = url.partition("://")
    rest, qmark, query = rest.partition("?")
    netloc, slash, path = rest.partition("/")
    if "@" in netloc:
        credentials, _, hosts = netloc.rpartition("@")
        user = credentials.partition(":")[0]
        netloc = f"{user}:***@{hosts}" if ":" in credentials else f"{user}@{hosts}"
    if query:
        parts = []
        for item in query.split("&"):
            name, equals, _ = item.partition("=")
            secret = any(word in name.lower() for word in ("password", "secret", "token"))
            parts.append(f"{name}=***" if equals and secret else item)
        query = "&".join(parts)
    shown = f"{scheme}{sep}{netloc}{slash}{path}{qmark}{query}"
    return shown if len(shown) <= 200 else shown[:197] + "..."


def _factory(scheme: str) -> DriverFactory:
    points = _entry_points()
    point = points.get(scheme)
    if point is None:
        known = ", ".join(f"{name}://" for name in sorted(points)) or "none"
        message = f"unknown queue URL scheme {scheme!r}; the installed drivers know: {known}"
        extra = _EXTRAS.get(scheme)
        if extra is not None:
            message += f" (pip install 'queue-toolkit[{extra}]')"
        else:
            message += (
                "; a driver for another backend registers its scheme in the entry point "
                f"group {DRIVERS_GROUP!r}"
            )
        raise InvalidArgument(message)
    try:
        loaded = point.load()
    except ImportError as exc:
        extra = _EXTRAS.get(scheme)
        hint = f": pip install 'queue-toolkit[{extra}]'" if extra else ""
        raise ImportError(
            f"the driver for {scheme}:// URLs ({point.value}) cannot be imported ({exc}){hint}",
            name=exc.name,
        ) from exc
    if not callable(loaded):
        raise InvalidArgument(
            f"the driver entry point for {scheme}:// ({point.value}) is not callable"
        )
    factory: DriverFactory = loaded
    return factory


def open_driver(url: str | None = None, *, clock: Clock | None = None) -> Driver:
    """The driver for ``url`` (default: the ``QUEUE_URL`` environment
    variable), made by the factory its scheme names (see the module
    docstring). The driver owns its connections: closing it closes them.
    Nothing is connected yet (the first call connects).

    Schemes of this distribution: ``memory://`` (in-process; query
    parameters ``max_payload_bytes``, ``max_batch``) and the Redis schemes
    ``redis://``, ``rediss://``, ``unix://``, ``redis+sentinel://``,
    ``redis+cluster://`` (with the ``redis`` extra; see
    :func:`queue_redis.driver_from_url` for their query parameters).

    :raises InvalidArgument: no URL, no scheme, an unknown scheme (the
        message lists the known ones), or a part of the URL the driver
        rejects (the message names it; passwords are never shown).
    :raises ImportError: the driver for the scheme needs packages that are
        not installed (the message names the extra to install).
    """
    url = _resolve_url(url)
    scheme = _scheme(url)
    if clock is not None and not isinstance(clock, Clock):
        raise InvalidArgument(f"clock must be a queue_core.Clock, not {type(clock).__name__}")
    driver = _factory(scheme)(url, clock=clock)
    if not isinstance(driver, Driver):
        raise InvalidArgument(
            f"the driver factory for {scheme}:// returned {type(driver).__name__}, not a Driver"
        )
    return driver


def open_service(
    url: str | None = None,
    *,
    options: QueueOptions | None = None,
    hooks: Sequence[Hooks] = (),
    clock: Clock | None = None,
) -> QueueService:
    """A :class:`QueueService` over :func:`open_driver` ``(url, clock=clock)``
    (default URL: the ``QUEUE_URL`` environment variable). The service
    owns the driver and the driver its client: ``await service.close()``
    closes both. Nothing is connected until the first call::

        async with open_service("redis://localhost:6379/0") as queue:
            await queue.enqueue("emails", b"...")

    :raises InvalidArgument: see :func:`open_driver`; also bad options or hooks.
    :raises ImportError: the driver needs an extra that is not installed.
    """
    check_service_args(options, hooks)  # before a driver (and its client) exists
    return QueueService(open_driver(url, clock=clock), options, hooks=hooks)
