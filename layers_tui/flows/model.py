"""A pending OAuth attempt as the app tracks it (and persists it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

TERMINAL = ("completed", "failed", "expired", "cancelled")
KINDS = ("connect", "reauth", "ads")


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


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
    def from_json(cls, data: dict[str, Any]) -> PendingFlow:
        """Raises KeyError/TypeError/ValueError on a malformed record."""
        values = dict(data)
        for name in ("created_at", "expires_at", "updated_at"):
            moment = _parse(values[name])
            if moment is None:
                raise ValueError(f"{name} missing")
            values[name] = moment
        for name in ("last_polled_at", "next_poll_at"):
            values[name] = _parse(values.get(name))
        values["ad_baseline"] = tuple(tuple(pair) for pair in values.get("ad_baseline", ()))
        known = set(cls.__dataclass_fields__)
        return cls(**{name: value for name, value in values.items() if name in known})
