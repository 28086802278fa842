"""A pending OAuth attempt as the app tracks it (and persists it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

TERMINAL = ("completed", "failed", "expired", "cancelled")
STATUSES = ("pending", *TERMINAL)
KINDS = ("connect", "reauth", "ads")

# Field types of a persisted record: read strictly, since a wrong type would surface later as a
# TypeError deep in the engine or the UI (comparing a naive with an aware time, say).
_TEXT = ("id", "kind", "project_id", "project_name", "platform", "authorize_url")
_TEXT_DEFAULTS = {
    "account_label": "",
    "timezone": "UTC",
    "status": "pending",
    "message": "",
    "last_result": "minted",
}
_OPTIONAL_TEXT = (
    "state",
    "social_account_id",
    "code",
    "result_account_id",
    "result_label",
    "request_id",
)
_TIMES = ("created_at", "expires_at", "updated_at")
_OPTIONAL_TIMES = ("last_polled_at", "next_poll_at")
_COUNTS = ("attempts", "failures")


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} is {type(value).__name__}, not text")
    return value


def _moment(name: str, value: Any) -> datetime:
    """An ISO 8601 time with its UTC offset; a naive time is as good as no time at all."""
    moment = datetime.fromisoformat(_text(name, value))  # ValueError when it does not parse
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} has no UTC offset")
    return moment


def _count(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} is not a count")
    return value


def _baseline(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list | tuple):
        raise ValueError("ad_baseline is not a list")
    pairs = []
    for pair in value:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ValueError("ad_baseline holds something other than pairs")
        pairs.append((_text("ad_baseline", pair[0]), _text("ad_baseline", pair[1])))
    return tuple(pairs)


@dataclass(frozen=True)
class PendingFlow:
    id: str
    kind: str  # connect | reauth | ads
    project_id: str
    project_name: str
    platform: str
    authorize_url: str
    created_at: datetime
    expires_at: datetime
    updated_at: datetime
    state: str | None = None  # social oauth state; ads flows have none to poll
    social_account_id: str | None = None
    account_label: str = ""
    timezone: str = "UTC"
    status: str = "pending"  # pending | completed | failed | expired | cancelled
    code: str | None = None
    message: str = ""
    result_account_id: str | None = None
    result_label: str | None = None
    attempts: int = 0
    failures: int = 0  # consecutive failed polls (drives backoff)
    last_result: str = "minted"
    last_polled_at: datetime | None = None
    next_poll_at: datetime | None = None
    request_id: str | None = None
    ad_baseline: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def evolve(self, now: datetime, **changes: Any) -> PendingFlow:
        return replace(self, updated_at=now, **changes)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("created_at", "expires_at", "updated_at", "last_polled_at", "next_poll_at"):
            data[name] = _ts(getattr(self, name))
        data["ad_baseline"] = [list(pair) for pair in self.ad_baseline]
        return data

    @classmethod
    def from_json(cls, data: Any) -> PendingFlow:
        """A flow from its persisted record; ValueError (only) when the record is malformed:
        not an object, a field missing, a value of the wrong type, a time without a UTC
        offset, an unknown kind or status. Unknown fields are ignored."""
        if not isinstance(data, dict):
            raise ValueError(f"record is {type(data).__name__}, not an object")
        missing = [name for name in (*_TEXT, *_TIMES) if name not in data]
        if missing:
            raise ValueError(f"record lacks {', '.join(missing)}")
        values: dict[str, Any] = {name: _text(name, data[name]) for name in _TEXT}
        if not values["id"]:
            raise ValueError("id is empty")
        for name, default in _TEXT_DEFAULTS.items():
            values[name] = _text(name, data.get(name, default))
        for name in _OPTIONAL_TEXT:
            value = data.get(name)
            values[name] = None if value is None else _text(name, value)
        for name in _TIMES:
            values[name] = _moment(name, data[name])
        for name in _OPTIONAL_TIMES:
            value = data.get(name)
            values[name] = None if value is None else _moment(name, value)
        for name in _COUNTS:
            values[name] = _count(name, data.get(name, 0))
        values["ad_baseline"] = _baseline(data.get("ad_baseline", ()))
        if values["kind"] not in KINDS:
            raise ValueError(f"unknown kind {values['kind']!r}")
        if values["status"] not in STATUSES:
            raise ValueError(f"unknown status {values['status']!r}")
        return cls(**values)
