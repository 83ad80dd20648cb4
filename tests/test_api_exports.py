"""The public surface: ``__all__`` lists exactly the public names (httpx
style), every package ships ``py.typed``, and the error tree is as documented."""

from __future__ import annotations

import importlib
import importlib.resources
import inspect
from types import ModuleType

import pytest

import queue_conformance
import queue_core
import queue_memory
import queue_redis

PACKAGES = ["queue_core", "queue_memory", "queue_redis", "queue_conformance"]


def _public_names(module: ModuleType) -> list[str]:
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    )


MODULES = [queue_core, queue_memory, queue_redis, queue_conformance]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_all_lists_exactly_the_public_names(module: ModuleType) -> None:
    assert sorted(module.__all__) == _public_names(module)
    assert len(set(module.__all__)) == len(module.__all__)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_public_names_are_defined_in_private_modules(module: ModuleType) -> None:
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            home = value.__module__
            assert home.startswith(f"{module.__name__}._"), (name, home)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_is_typed(package: str) -> None:
    # every package ships in this one distribution: a missing one is a failure
    assert importlib.resources.files(package).joinpath("py.typed").is_file()


def test_the_error_tree_is_as_documented() -> None:
    from queue_core import (
        BackendUnavailable,
        Closed,
        InvalidArgument,
        LeaseLost,
        PayloadTooLarge,
        QueueError,
    )

    assert issubclass(InvalidArgument, QueueError)
    assert issubclass(InvalidArgument, ValueError)
    assert issubclass(PayloadTooLarge, InvalidArgument)
    for error in (LeaseLost, Closed, BackendUnavailable):
        assert issubclass(error, QueueError)
        assert not issubclass(error, ValueError)
    assert [e for e in (QueueError, InvalidArgument, LeaseLost, Closed) if e.retryable] == []
    assert BackendUnavailable.retryable


def test_translate_errors_keeps_the_native_error_as_cause() -> None:
    from queue_core import BackendUnavailable, InvalidArgument, translate_errors

    native = ConnectionResetError("peer went away")
    with (
        pytest.raises(BackendUnavailable) as caught,
        translate_errors({OSError: BackendUnavailable}, "claim"),
    ):
        raise native
    assert caught.value.__cause__ is native
    assert "claim" in str(caught.value)
    ours = InvalidArgument("bad")
    with (
        pytest.raises(InvalidArgument) as passed,
        translate_errors({Exception: BackendUnavailable}),
    ):
        raise ours
    assert passed.value is ours  # queue errors pass through untouched
    with pytest.raises(KeyError), translate_errors({OSError: BackendUnavailable}):
        raise KeyError("unmapped errors are not touched")


def test_the_service_satisfies_the_portable_protocols() -> None:
    """QueueService and QueueConsumer have every method of Service/Consumer."""
    for concrete, protocol in (
        (queue_core.QueueService, queue_core.Service),
        (queue_core.QueueConsumer, queue_core.Consumer),
    ):
        wanted = {
            name
            for name in vars(protocol)
            if not name.startswith("_") or name in ("__aenter__", "__aexit__")
        }
        missing = {name for name in wanted if not hasattr(concrete, name)}
        assert missing == set(), (concrete.__name__, missing)


def test_queue_memory_has_no_dependency_beyond_queue_core() -> None:
    for module in ("queue_memory._driver", "queue_memory._store", "queue_memory._testing"):
        source = inspect.getsource(importlib.import_module(module))
        imports = {
            line.split()[1].split(".")[0]
            for line in source.splitlines()
            if line.startswith(("import ", "from ")) and not line.startswith("from .")
        }
        allowed = {"__future__", "queue_core", "typing_extensions"}
        stdlib = {"asyncio", "contextlib", "itertools", "secrets", "heapq", "dataclasses"}
        assert imports <= allowed | stdlib | {"collections"}, imports
