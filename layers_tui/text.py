"""Safe display of untrusted strings: control characters become visible stand-ins.

Rich and Textual drop only a few control characters; ESC and the 8-bit C1 codes would reach
the terminal. Every string from the API passes through `safe` before it is shown.
"""

from __future__ import annotations

import os
import unicodedata
from typing import Any, TextIO

# Bidi overrides/isolates reorder what is displayed ("Trojan Source"); zero-widths hide text.
_INVISIBLE = (
    {0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF}
    | set(range(0x202A, 0x202F))
    | set(range(0x2066, 0x206A))
)


def _stand_in(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀..␟ control pictures: ␛ for ESC
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"\\u{code:04x}"


def safe(value: object, limit: int | None = 200, multiline: bool = False) -> str:
    """Return `value` as text with every control character replaced by a visible stand-in,
    and cut to `limit` characters with an ellipsis."""
    text = "" if value is None else str(value)
    # The common case (printable ASCII) has nothing to replace.
    cleaned = text if text.isascii() and text.isprintable() else _cleaned(text, multiline)
    if limit is not None and len(cleaned) > limit:
        cleaned = cleaned[: max(0, limit - 1)] + "…"
    return cleaned


def _cleaned(text: str, multiline: bool) -> str:
    out: list[str] = []
    for char in text:
        code = ord(char)
        if char == "\n" and multiline:
            out.append(char)
        elif code < 0x20 or code == 0x7F or 0x80 <= code <= 0x9F or code in _INVISIBLE:
            out.append(_stand_in(char))
        elif unicodedata.category(char) == "Cs":
            out.append("\ufffd")
        else:
            out.append(char)
    return "".join(out)


def is_clean(text: str) -> bool:
    """True when `text` carries no character `safe` would replace."""
    return safe(text, limit=None, multiline=True) == text


def safe_data(value: Any) -> Any:
    """`value` (decoded JSON or a record about to be written out) with `safe` applied to every
    string in it, keys included, and nothing cut: for JSON, CSV and other machine outputs."""
    if isinstance(value, str):
        return safe(value, limit=None)
    if isinstance(value, dict):
        return {safe_data(key): safe_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [safe_data(item) for item in value]
    return value


def emit(stream: TextIO, text: str) -> None:
    """Write and flush `text`. A reader that stopped reading (`| head`) is not an error:
    the rest of the output goes nowhere, and the command still exits with its own code."""
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        quiet(stream)


def quiet(stream: TextIO) -> None:
    """Point `stream` at /dev/null, so the interpreter's last flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, stream.fileno())
    os.close(devnull)
