"""Payload previews: text, hex or JSON, always as plain strings for the
templates to escape. Nothing in a payload is ever executed or unpickled;
JSON is parsed with the standard parser (data only)."""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass

__all__: list[str] = []

MODES = ("text", "json", "hex")
TEXT_LIMIT = 64 * 1024  # bytes shown as text or JSON
HEX_LIMIT = 4 * 1024  # bytes shown as hex
JSON_PARSE_LIMIT = 1024 * 1024  # larger payloads are not parsed
SHORT_LIMIT = 96  # characters in a table cell
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PRINTABLE = set(string.printable.encode())


@dataclass(frozen=True, slots=True)
class Preview:
    mode: str
    body: str
    size: int
    shown: int  # bytes of the payload the body shows
    note: str | None = None

    @property
    def truncated(self) -> bool:
        return self.shown < self.size


def _text(payload: bytes, limit: int) -> str:
    text = payload[:limit].decode("utf-8", "replace")
    return _CONTROL.sub("\N{REPLACEMENT CHARACTER}", text)


def _json(payload: bytes) -> str | None:
    if len(payload) > JSON_PARSE_LIMIT:
        return None
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict | list):
        return None
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)
    except (ValueError, RecursionError):
        return None


def looks_textual(payload: bytes) -> bool:
    sample = payload[:2048]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # not just a character cut at the end
            return False
    return sum(1 for byte in sample if byte < 32 and byte not in b"\t\n\r") == 0


def hex_dump(payload: bytes, limit: int = HEX_LIMIT) -> str:
    lines = []
    for offset in range(0, min(len(payload), limit), 16):
        chunk = payload[offset : offset + 16]
        hexes = " ".join(f"{byte:02x}" for byte in chunk)
        text = "".join(chr(byte) if byte in _PRINTABLE and byte >= 32 else "." for byte in chunk)
        lines.append(f"{offset:08x}  {hexes:<47}  |{text}|")
    return "\n".join(lines)


def preview(payload: bytes, mode: str | None = None) -> Preview:
    """The payload in ``mode`` (``None``: JSON if it parses, else text if
    it looks like text, else hex)."""
    size = len(payload)
    if mode not in MODES:
        textual = "text" if looks_textual(payload) else "hex"
        mode = "json" if _json(payload) is not None else textual
    if mode == "json":
        pretty = _json(payload)
        if pretty is not None:
            body = pretty if len(pretty) <= TEXT_LIMIT * 2 else pretty[: TEXT_LIMIT * 2]
            shown = size if len(pretty) <= TEXT_LIMIT * 2 else min(size, TEXT_LIMIT)
            return Preview("json", _CONTROL.sub("\N{REPLACEMENT CHARACTER}", body), size, shown)
        why = "too large to parse" if size > JSON_PARSE_LIMIT else "not a JSON object or array"
        text = _text(payload, TEXT_LIMIT)
        return Preview("text", text, size, min(size, TEXT_LIMIT), f"Not shown as JSON: {why}.")
    if mode == "hex":
        return Preview("hex", hex_dump(payload), size, min(size, HEX_LIMIT))
    return Preview("text", _text(payload, TEXT_LIMIT), size, min(size, TEXT_LIMIT))


def short(payload: bytes) -> str:
    """A one-line preview for tables."""
    if not payload:
        return ""
    if not looks_textual(payload):
        return f"{len(payload):,} bytes of binary data"
    text = " ".join(_text(payload, SHORT_LIMIT * 4).split())
    return text if len(text) <= SHORT_LIMIT else text[: SHORT_LIMIT - 1] + "\N{HORIZONTAL ELLIPSIS}"
