"""An HTTP ``/metrics`` endpoint for a worker process."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Sequence
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import Self
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import make_wsgi_app

from .._errors import InvalidArgument
from .._service import QueueService
from ._collector import QueueCollector
from ._hooks import PrometheusHooks

__all__ = ["MetricsServer", "start_metrics_server"]


class _Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Scrapes are not logged."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class MetricsServer:
    """A running metrics endpoint (see :func:`start_metrics_server`).

    ``registry`` holds ``hooks`` (a :class:`PrometheusHooks` installed on the
    service), ``collector`` (a :class:`QueueCollector`) and the standard
    process, platform and GC collectors. :meth:`close` stops the server and
    removes the hooks from the service. Also a context manager.
    """

    def __init__(
        self,
        service: QueueService,
        server: WSGIServer,
        thread: threading.Thread,
        registry: CollectorRegistry,
        hooks: PrometheusHooks,
        collector: QueueCollector,
    ) -> None:
        self._service = service
        self._server = server
        self._thread = thread
        self.registry = registry
        self.hooks = hooks
        self.collector = collector
        self._closed = False

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        """The bound port (the one the OS chose when started with port 0)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and remove the hooks from the service. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._service.remove_hook(self.hooks)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def start_metrics_server(
    port: int,
    service: QueueService,
    topics: Sequence[str] = (),
    *,
    host: str = "127.0.0.1",
    loop: asyncio.AbstractEventLoop | None = None,
) -> MetricsServer:
    """Serve Prometheus metrics for ``service`` at ``http://host:port/metrics``
    (every path answers the same) from a background thread; return the
    running server (``close()`` it when done).

    Installs a :class:`PrometheusHooks` on ``service`` (counters and
    histograms of this process's enqueues and jobs) and serves, on a
    registry of its own, the gauges of a :class:`QueueCollector` for
    ``topics`` (empty: every topic the driver lists), plus the standard
    process metrics. Binds 127.0.0.1 unless told otherwise; ``port`` 0 picks
    a free port (see :attr:`MetricsServer.port`).

    Call it on the event loop the service runs on (for example inside
    ``async def main()``), or pass that ``loop``.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidArgument(f"port must be an int within [0, 65535], not {port!r}")
    if not isinstance(service, QueueService):
        raise InvalidArgument("service must be a queue_core.QueueService")
    if not isinstance(host, str) or not host:
        raise InvalidArgument("host must be a non-empty str")
    registry = CollectorRegistry()
    collector = QueueCollector(service, topics, loop=loop)
    registry.register(collector)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    hooks = PrometheusHooks(registry)
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except OSError as exc:
        raise InvalidArgument(f"cannot bind metrics server to {host!r}: {exc}") from exc

    class Server(_Server):
        address_family = family

    server = make_server(host, port, make_wsgi_app(registry), Server, handler_class=_Handler)
    thread = threading.Thread(target=server.serve_forever, name=f"qtk-metrics-{port}", daemon=True)
    thread.start()
    service.add_hook(hooks)
    return MetricsServer(service, server, thread, registry, hooks, collector)
