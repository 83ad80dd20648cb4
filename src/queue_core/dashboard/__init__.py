"""A web dashboard for queue_core (the ``dashboard`` extra:
``pip install 'queue-toolkit[dashboard]'``).

:func:`create_app` builds a small Starlette app, server-rendered with
Jinja2 (no JavaScript, no build step), that reads through the portable API
(so it works on every driver): topics with counts, lag and a throughput
chart, the jobs of a topic by state with paging, one job (payload as text,
hex or JSON; headers; attempts; last error; due time; lease deadline), and
dead letters with redrive and purge; waiting and running jobs can be
cancelled. :func:`serve` runs it (``qtk dashboard``). Secure by default:
binds 127.0.0.1, every action needs the token and a CSRF token, read-only
mode, everything escaped, a strict Content-Security-Policy.

Importing this package without Starlette, Jinja2 and uvicorn installed
raises an :class:`ImportError` that says what to install.
"""

try:
    import jinja2 as _jinja2  # noqa: F401
    import starlette as _starlette  # noqa: F401
except ImportError as _exc:
    raise ImportError(
        "queue_core.dashboard needs starlette, jinja2 and uvicorn: "
        "pip install 'queue-toolkit[dashboard]'",
        name=_exc.name,
    ) from _exc

from ._app import create_app
from ._serve import TOKEN_ENV, serve

__all__ = ["TOKEN_ENV", "create_app", "serve"]
