"""File logging: every line is shown-safe text with anything shaped like an API key masked."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from layers_tui.text import safe

_KEY = re.compile(r"lp_(live|test)_([A-Za-z0-9]+)_[A-Za-z0-9_\-]+")
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def redact(text: str) -> str:
    text = _KEY.sub(lambda m: f"lp_{m.group(1)}_{m.group(2)}_…", text)
    return _BEARER.sub(r"\1****", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        return True


class SafeFormatter(logging.Formatter):
    """Formats a record with its message on one line (API text in it cannot forge log lines),
    control characters as visible stand-ins (nothing reaches a terminal that shows the file)
    and key-shaped text masked, the traceback included."""

    def format(self, record: logging.LogRecord) -> str:
        message = safe(redact(record.getMessage()), limit=None)
        original = record.msg, record.args
        record.msg, record.args = message, None
        try:
            text = super().format(record)
        finally:
            record.msg, record.args = original
        return redact(safe(text, limit=None, multiline=True))


def setup_logging(log_dir: Path, level: int = logging.INFO) -> Path | None:
    """Log to `<log_dir>/layers-tui.log`; httpx/httpcore only warnings (they log full URLs)."""
    try:
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = log_dir / "layers-tui.log"
        root = logging.getLogger("layers_tui")
        for existing in root.handlers:
            if isinstance(existing, logging.FileHandler) and existing.baseFilename == (
                os.path.abspath(path)
            ):
                return path
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        return None
    handler.addFilter(RedactingFilter())
    handler.setFormatter(SafeFormatter(FORMAT))
    root.setLevel(level)
    root.addHandler(handler)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return path


def close_logging(path: Path | None) -> None:
    """Detach and close the handler `setup_logging` made for `path` (one-shot commands)."""
    if path is None:
        return
    root = logging.getLogger("layers_tui")
    for existing in list(root.handlers):
        if isinstance(existing, logging.FileHandler) and existing.baseFilename == (
            os.path.abspath(path)
        ):
            root.removeHandler(existing)
            existing.close()
