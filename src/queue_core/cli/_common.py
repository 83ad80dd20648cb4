"""What every ``qtk`` command shares: options, exit codes, one-line errors,
and opening a service from a URL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, Final, TypeVar

import click

from .._errors import BackendUnavailable, InvalidArgument, QueueError, Unsupported
from .._service import QueueService
from .._url import URL_ENV, open_service, redact_url
from ._logging import FORMATS, LEVELS, configure_logging

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "Failure",
    "StartupError",
    "admin_service",
    "json_option",
    "log_options",
    "one_line",
    "open_checked",
    "probe",
    "run_async",
    "url_option",
]

logger = logging.getLogger("queue_core.cli")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1  # a runtime failure, or (qtk job) not found
EXIT_USAGE: Final = 2  # bad usage or a startup failure: bad URL, import error, backend down
PROBE_TIMEOUT: Final = 20.0


class StartupError(click.ClickException):
    """Bad usage or a failed start (exit code 2): one line, no traceback."""

    exit_code = EXIT_USAGE


class Failure(click.ClickException):
    """A runtime failure (exit code 1): one line, no traceback."""

    exit_code = EXIT_FAILURE


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line, at most 400 characters."""
    text = str(exc)
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= 400 else text[:397] + "..."


def url_option(fn: F) -> F:
    return click.option(
        "--url",
        envvar=URL_ENV,
        show_envvar=True,
        metavar="URL",
        help="The queue: redis://host:6379/0, rediss://, unix://, redis+sentinel://, "
        "redis+cluster://, memory://, or a scheme a driver package registers.",
    )(fn)


HEARTBEAT_INTERVAL: Final = 5.0  # seconds between touches of --health-file


def health_file_option(what: str) -> Callable[[F], F]:
    """``--health-file``: a file ``what`` touches while it runs."""
    return click.option(
        "--health-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"Touch this file every {HEARTBEAT_INTERVAL:g} s while the {what} runs "
        "(for `qtk health FILE` as a liveness probe).",
    )


def app_dir_option(what: str = "TARGET") -> Callable[[F], F]:
    """``--app-dir``: where to import ``what`` (a MODULE:ATTR) from."""
    return click.option(
        "--app-dir",
        default=".",
        show_default=True,
        type=click.Path(file_okay=False),
        help=f"Put this directory first on sys.path to import {what}.",
    )


def json_option(fn: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print JSON (for scripts) instead of a table."
    )(fn)


def log_options(default_level: str = "warning") -> Callable[[F], F]:
    """``--log-level`` and ``--log-format``; configures logging before the
    command runs."""

    def setup(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        ctx.meta[f"qtk.{param.name}"] = value
        level = ctx.meta.get("qtk.log_level")
        fmt = ctx.meta.get("qtk.log_format")
        if level is not None and fmt is not None:
            configure_logging(level, fmt)
        return value

    def decorate(fn: F) -> F:
        fn = click.option(
            "--log-format",
            type=click.Choice(FORMATS),
            default="text",
            envvar="QTK_LOG_FORMAT",
            show_default=True,
            is_eager=True,
            callback=setup,
            help="Log lines as text or JSON (time, level, logger, message, pid, exc_info).",
        )(fn)
        return click.option(
            "--log-level",
            type=click.Choice(LEVELS, case_sensitive=False),
            default=default_level,
            envvar="QTK_LOG_LEVEL",
            show_default=True,
            is_eager=True,
            callback=setup,
            help="The least severe log records shown (debug shows startup tracebacks).",
        )(fn)

    return decorate


def open_checked(url: str | None) -> QueueService:
    """:func:`open_service`, with bad URLs and missing drivers as one-line
    startup errors."""
    try:
        return open_service(url)
    except InvalidArgument as exc:
        if url is None and f"${URL_ENV}" in str(exc):
            raise StartupError(f"no queue URL: pass --url or set {URL_ENV}") from None
        raise StartupError(str(exc)) from None
    except ImportError as exc:
        raise StartupError(str(exc)) from None


async def probe(service: QueueService, url: str | None, topic: str | None = None) -> None:
    """One cheap call, so that a backend that is down fails the start with
    one clear line (not later, in a log full of retries)."""
    where = redact_url(url) if url else f"${URL_ENV}"
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            await service.counts(topic or "qtk-probe")
    except TimeoutError:
        raise StartupError(
            f"the backend at {where} did not answer in {PROBE_TIMEOUT:g} s"
        ) from None
    except BackendUnavailable as exc:
        raise StartupError(f"cannot reach the backend at {where}: {exc}") from None


@contextlib.asynccontextmanager
async def admin_service(url: str | None) -> AsyncIterator[QueueService]:
    """A service for one operator command, closed at the end."""
    service = open_checked(url)
    try:
        yield service
    finally:
        with contextlib.suppress(Exception):
            await service.close()


def run_async(main: Callable[[], Coroutine[Any, Any, T]], url: str | None) -> T:
    """Run an operator command's coroutine; map queue errors to exit codes:
    bad input, a missing capability and an unreachable backend are usage
    or startup errors (2), other queue errors runtime failures (1)."""
    try:
        return asyncio.run(main())
    except click.ClickException:
        raise
    except (InvalidArgument, Unsupported) as exc:
        raise StartupError(str(exc)) from None
    except BackendUnavailable as exc:
        where = redact_url(url) if url else f"${URL_ENV}"
        raise StartupError(f"cannot reach the backend at {where}: {exc}") from None
    except QueueError as exc:
        raise Failure(one_line(exc)) from None
