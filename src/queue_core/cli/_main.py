"""The ``qtk`` command group."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .._errors import InvalidArgument
from ._admin import cancel, dead, enqueue, health, job, jobs, limits, stats, topics
from ._common import StartupError, app_dir_option, log_options, one_line
from ._common import url_option as url
from ._load import load_target
from ._schedules import registry_of, scheduler, schedules
from ._worker import worker

if TYPE_CHECKING:
    from ..schedules import Schedule

__all__ = ["main"]

TOKEN_ENV = "QTK_DASHBOARD_TOKEN"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="queue-toolkit", prog_name="qtk")
def main() -> None:
    """qtk: run queue workers, and inspect and manage queues.

    Every command takes --url (default: $QUEUE_URL). Exit codes: 0 done,
    1 runtime failure (or not found), 2 usage or startup error (bad URL,
    import error, backend down); a worker exits 128+N after a second
    signal N.
    """


@click.command(short_help="Serve the web dashboard (the dashboard extra).")
@url
@click.option("--host", default="127.0.0.1", show_default=True, help="The interface to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option(
    "--token",
    envvar=TOKEN_ENV,
    show_envvar=True,
    help="Actions (redrive, purge, cancel, limits) need this token; without one the "
    "dashboard only reads.",
)
@click.option("--read-only", is_flag=True, help="Refuse every action, even with the token.")
@click.option(
    "--app",
    "app_target",
    metavar="MODULE:ATTR",
    help="A Tasks registry (myapp.tasks:tasks) whose schedules the Schedules page shows.",
)
@app_dir_option("--app")
@log_options("info")
def dashboard(
    url: str | None,
    host: str,
    port: int,
    token: str | None,
    read_only: bool,
    app_target: str | None,
    app_dir: str,
    log_level: str,
    log_format: str,
) -> None:
    """Serve the web dashboard (the dashboard extra) until Ctrl-C."""
    try:
        from queue_core.dashboard import serve
    except ImportError as exc:
        raise StartupError(
            f"qtk dashboard needs the dashboard extra: pip install 'queue-toolkit[dashboard]' "
            f"({exc})"
        ) from None
    chosen: tuple[Schedule, ...] = ()
    if app_target is not None:
        chosen = registry_of(app_target, load_target(app_target, app_dir)).schedules
    try:
        serve(url, host=host, port=port, token=token, read_only=read_only, schedules=chosen)
    except InvalidArgument as exc:
        message = str(exc)
        if url is None and "no queue URL" in message:
            message = "no queue URL: pass --url or set QUEUE_URL"
        raise StartupError(message) from None
    except (ValueError, ImportError, OSError) as exc:
        raise StartupError(one_line(exc)) from None


for command in (
    worker,
    scheduler,
    schedules,
    topics,
    stats,
    jobs,
    job,
    enqueue,
    cancel,
    limits,
    dead,
    dashboard,
    health,
):
    main.add_command(command)
