"""The ``qtk`` command: run workers, inspect and manage queues (the ``cli``
extra, also part of the ``redis`` extra: ``pip install 'queue-toolkit[redis]'``).

``qtk worker myapp.tasks:tasks --url redis://localhost:6379/0`` runs the
tasks of a :class:`~queue_core.Tasks` registry (or one handler for one
topic) and its schedules; ``qtk scheduler`` runs only the schedules, ``qtk
schedules`` lists them; ``qtk topics``, ``qtk stats``, ``qtk jobs``, ``qtk
job``, ``qtk enqueue``, ``qtk cancel``, ``qtk limits`` and ``qtk dead``
inspect and manage queues through the portable API. ``python -m queue_core`` is the same command.
See ``docs/cli.md``.

Importing this package without click and rich installed raises an
:class:`ImportError` that says what to install; ``import queue_core``
never imports it.
"""

try:
    import click as _click  # noqa: F401
    import rich as _rich  # noqa: F401
except ImportError as _exc:
    raise ImportError(
        "the qtk command needs click and rich: pip install 'queue-toolkit[cli]'",
        name=_exc.name,
    ) from _exc

from ._main import main

__all__ = ["main"]
