"""Retry decisions and Retry-After parsing. Pure functions: no I/O, no sleeping."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Codes that say "stop" whatever the HTTP status is.
NEVER_RETRY_CODES = frozenset(
    {
        "KILL_SWITCH",
        "IDEMPOTENCY_CONFLICT",
        "VALIDATION",
        "UNAUTHENTICATED",
        "FORBIDDEN_SCOPE",
        "RETURN_URL_NOT_ALLOWED",
        "NOT_FOUND",
        "CONFLICT",
    }
)
# Anything above this is not a usable hint (a day): treat as absent, fall back to backoff.
MAX_HINT_SECONDS = 86_400.0


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds (floats tolerated) or an
    HTTP-date. Returns None for anything unusable (empty, negative, zero, NaN, inf, huge,
    past dates, garbage), so callers fall back to their own backoff."""
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > 64:
        return None
    seconds: float | None
    try:
        seconds = float(text)
    except ValueError:
        seconds = _from_http_date(text, now or datetime.now(UTC))
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        return None
    if seconds > MAX_HINT_SECONDS:
        return None
    return seconds


def _from_http_date(text: str, now: datetime) -> float | None:
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return (moment - now).total_seconds()
    except OverflowError:
        return None


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: base x 2^n, capped, multiplied by a jitter factor in
    [jitter_low, 1]. `jitter` is injectable so tests can pin it."""

    base: float = 0.5
    cap: float = 8.0
    jitter_low: float = 0.75

    def delay(
        self, attempt: int, jitter: Callable[[float, float], float] = random.uniform
    ) -> float:
        """Delay before retry number `attempt` (1 for the first retry)."""
        exponent = min(max(attempt - 1, 0), 32)  # bound the power: no overflow
        raw = min(self.cap, self.base * (2**exponent))
        factor = jitter(self.jitter_low, 1.0)
        if not math.isfinite(factor):
            factor = 1.0
        return max(0.0, min(self.cap, raw * min(max(factor, 0.0), 1.0)))


USER_ACTION_BACKOFF = Backoff(base=0.5, cap=8.0)
POLLER_BACKOFF = Backoff(base=5.0, cap=30.0, jitter_low=1.0)


def is_retryable_status(status: int, code: str | None) -> bool:
    if code in NEVER_RETRY_CODES:
        return False
    return status in RETRYABLE_STATUSES


def retry_wait(hint: float | None, backoff_delay: float, cap: float) -> float | None:
    """How long to wait before retrying, or None when the server asks for longer than the
    caller is willing to wait (then surface the error with its retry_after instead)."""
    if hint is None:
        return min(backoff_delay, cap)
    if hint > cap:
        return None
    return min(max(hint, backoff_delay), cap)
