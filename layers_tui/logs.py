"""File logging with a filter that masks anything shaped like an API key."""

from __future__ import annotations

import logging
import re
from pathlib import Path

_KEY = re.compile(r"lp_(live|test)_([A-Za-z0-9]+)_[A-Za-z0-9_\-]+")
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")


def redact(text: str) -> str:
    text = _KEY.sub(lambda m: f"lp_{m.group(1)}_{m.group(2)}_…", text)
    return _BEARER.sub(r"\1****", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        return True


def setup_logging(log_dir: Path, level: int = logging.INFO) -> Path | None:
    """Log to `<log_dir>/layers-tui.log`; httpx/httpcore only warnings (they log full URLs)."""
    try:
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = log_dir / "layers-tui.log"
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        return None
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("layers_tui")
    root.setLevel(level)
    root.addHandler(handler)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return path
