"""``memory://`` URLs (registered in the ``queue_toolkit.drivers`` entry
point group, so that ``queue_core.open_service("memory://")`` works)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from queue_core import Clock, InvalidArgument

from ._driver import MemoryDriver

__all__ = ["driver_from_url"]

_PARAMS = ("max_batch", "max_payload_bytes")


def driver_from_url(url: str, *, clock: Clock | None = None) -> MemoryDriver:
    """A fresh :class:`MemoryDriver` for ``memory://[?max_payload_bytes=N&max_batch=N]``.

    Every call makes a new, empty store that lives in this process only:
    for tests and trying things out, never for jobs that must survive the
    process (nor for a worker and a producer in two processes).

    :raises InvalidArgument: the URL has a host, a path or an unknown
        query parameter, or a parameter is not a positive integer.
    """
    if not isinstance(url, str):
        raise InvalidArgument(f"a memory URL must be a str, not {type(url).__name__}")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "memory":
        raise InvalidArgument(f"not a memory:// URL: {url!r}")
    location, _, query = rest.partition("?")
    location, _, fragment = location.partition("#")
    if location.strip("/") or fragment:
        raise InvalidArgument(
            f"memory URL {url!r}: a memory store has no host or path (write memory://)"
        )
    settings: dict[str, int] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in _PARAMS:
            raise InvalidArgument(
                f"memory URL {url!r}: unknown query parameter {name!r}; known: {list(_PARAMS)}"
            )
        if not (value.isascii() and value.isdigit()) or int(value) < 1:
            raise InvalidArgument(
                f"memory URL {url!r}: query parameter {name}={value!r} is not a positive integer"
            )
        settings[name] = int(value)
    return MemoryDriver(clock=clock, **settings)
