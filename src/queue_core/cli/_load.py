"""Import the ``module:attribute`` a worker runs."""

from __future__ import annotations

import importlib
import logging
import os
import sys

from ._common import StartupError, one_line

__all__ = ["load_target"]

logger = logging.getLogger("queue_core.cli")


def load_target(spec: str, app_dir: str = ".") -> object:
    """The object ``spec`` (``package.module:attribute``, the attribute may
    be dotted) names, importing the module with ``app_dir`` first on
    ``sys.path`` (so that ``qtk worker app:tasks`` finds ``./app.py``).

    :raises StartupError: a malformed spec, a module that cannot be
        imported (one line; the traceback is logged at debug level), or a
        missing attribute.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise StartupError(
            f"target {spec!r}: write it as module:attribute, for example myapp.tasks:tasks"
        )
    path = os.path.abspath(app_dir)
    if path not in sys.path:
        sys.path.insert(0, path)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise StartupError(
                f"cannot import {module_name!r}: no module named {missing!r} in {path} or on "
                "sys.path (run qtk from your project's directory, or pass --app-dir)"
            ) from None
        logger.debug("importing %s failed", module_name, exc_info=True)
        raise StartupError(
            f"importing {module_name!r} failed: {one_line(exc)} "
            "(--log-level debug shows the traceback)"
        ) from None
    except Exception as exc:
        logger.debug("importing %s failed", module_name, exc_info=True)
        raise StartupError(
            f"importing {module_name!r} failed: {one_line(exc)} "
            "(--log-level debug shows the traceback)"
        ) from None
    value: object = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise StartupError(f"module {module_name!r} has no attribute {attribute!r}") from None
    return value
