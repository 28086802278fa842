"""The sandbox's own clock: wall time plus an offset that tests and demo controls can advance."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


def _system_now() -> datetime:
    return datetime.now(UTC)


class SandboxClock:
    """Current time for the emulator; `advance` moves it forward without waiting."""

    def __init__(self, base: Callable[[], datetime] | None = None, start: datetime | None = None):
        self._base = base or _system_now
        self._lock = threading.Lock()
        # With `start`, time is frozen at `start` (plus advances): fully deterministic.
        self._frozen = start
        self._offset = timedelta(0)

    def now(self) -> datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen + self._offset
            return self._base() + self._offset

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 UTC with second precision and a `Z`, as the docs show."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
