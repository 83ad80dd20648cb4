"""Run the dashboard (``qtk dashboard``)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import InvalidArgument
from .._service import QueueService
from ._app import create_app
from ._security import LOCAL_HOSTS

if TYPE_CHECKING:
    from ..schedules import Schedule

__all__ = ["TOKEN_ENV", "serve"]

logger = logging.getLogger("queue_core.dashboard")

TOKEN_ENV = "QTK_DASHBOARD_TOKEN"
"""The environment variable :func:`serve` reads the token from when none is given."""


def _allowed_hosts(host: str) -> list[str]:
    if host in ("0.0.0.0", "::", ""):
        return ["*"]  # every interface: the operator chose exposure; no Host check
    return [*LOCAL_HOSTS, host]


def serve(
    url: str | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    read_only: bool = False,
    schedules: Sequence[Schedule] = (),
) -> None:
    """Serve the dashboard for the queue at ``url`` (see
    :func:`queue_core.open_service`; ``None``: its default) on
    ``http://host:port/`` until interrupted. Blocks.

    ``token`` (default: the ``QTK_DASHBOARD_TOKEN`` environment variable)
    enables actions for whoever signs in with it; without one the dashboard
    only reads. ``read_only`` refuses every action even with a token.
    Binds 127.0.0.1 unless told otherwise: the pages (payloads included)
    are readable by anyone who can reach the port, so expose it only
    behind your own access control. ``schedules`` (a registry's
    ``tasks.schedules``) are shown on the Schedules page.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidArgument(f"port must be an int within [0, 65535], not {port!r}")
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    import uvicorn

    # imported here: queue_core.open_service needs the drivers' dependencies
    open_service: Callable[..., QueueService] = importlib.import_module("queue_core").open_service

    async def main() -> None:
        service = open_service(url)
        try:
            app = create_app(
                service,
                token=token,
                read_only=read_only,
                allowed_hosts=_allowed_hosts(host),
                schedules=schedules,
            )
            if read_only:
                mode = "read-only"
            elif token is None:
                mode = f"actions off (no token: pass --token or set {TOKEN_ENV})"
            else:
                mode = "actions need the token"
            logger.warning("qtk dashboard on http://%s:%d/ (%s)", host, port, mode)
            config: Any = uvicorn.Config(
                app, host=host, port=port, server_header=False, log_level="info"
            )
            await uvicorn.Server(config).serve()
        finally:
            await service.close()

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C: uvicorn re-raises it after its exit
        asyncio.run(main())
