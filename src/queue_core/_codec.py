"""Codecs: how a task's arguments become a job's payload and back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from ._errors import InvalidArgument

__all__ = ["Codec", "JsonCodec"]


@runtime_checkable
class Codec(Protocol):
    """Turns a task's arguments (parameter name -> value) into payload bytes
    and back. ``types`` maps each parameter of the task to its annotation
    (resolved where possible), for codecs that convert values to the types
    a handler declares (a pydantic or msgspec codec, for example).

    ``encode`` raises :class:`~queue_core.InvalidArgument` for a value it
    cannot encode (naming the argument); ``decode`` raises ``ValueError``
    for a payload it cannot read (the job then goes to the dead-letter
    topic: retrying would not help). Never unpickle: a payload is data
    from whoever can write to the backend.
    """

    def encode(self, arguments: Mapping[str, Any], types: Mapping[str, Any]) -> bytes: ...

    def decode(self, payload: bytes, types: Mapping[str, Any]) -> dict[str, Any]: ...


class JsonCodec:
    """The default codec: the arguments as one JSON object in UTF-8, so that
    any producer, in any language, can enqueue a task.

    Values must be JSON types: ``str``, ``int``, ``float`` (finite), ``bool``,
    ``None``, and lists and dicts (with ``str`` keys) of them; tuples come
    back as lists. Anything else (a ``datetime``, a dataclass, ``bytes``)
    is refused at enqueue with an error that names the argument: pass an
    ISO string or a dict, or give the registry another codec. Types are not
    converted on decode: the handler gets what JSON holds.
    """

    def encode(self, arguments: Mapping[str, Any], types: Mapping[str, Any]) -> bytes:
        try:
            text = json.dumps(
                dict(arguments), ensure_ascii=False, separators=(",", ":"), allow_nan=False
            )
        except (TypeError, ValueError):
            raise self._explain(arguments) from None
        return text.encode("utf-8")

    @staticmethod
    def _explain(arguments: Mapping[str, Any]) -> InvalidArgument:
        for name, value in arguments.items():
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as exc:
                return InvalidArgument(
                    f"argument {name!r} cannot be encoded as JSON ({exc}); JsonCodec takes str, "
                    "int, float, bool, None, and lists and dicts of them"
                )
        return InvalidArgument("the arguments cannot be encoded as JSON")  # pragma: no cover

    def decode(self, payload: bytes, types: Mapping[str, Any]) -> dict[str, Any]:
        try:
            value = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"the payload is not JSON ({exc})") from None
        if not isinstance(value, dict):
            raise ValueError(f"the payload is a JSON {type(value).__name__}, not an object")
        return value

    def __repr__(self) -> str:
        return "JsonCodec()"
