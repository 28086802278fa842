"""Words for an account's history: "broken since Tue 14:02", "flapped 3 times this week"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from rich.text import Text

from layers_tui.text import safe

from .status import SEVERITY_GLYPH, AccountRow, Severity, span


class HistoryEntry(Protocol):
    at: float
    old_status: str | None
    new_status: str | None
    old_severity: int | None
    new_severity: int | None


def when(at: datetime, now: datetime) -> str:
    """A moment as people say it: "14:02" today, "Tue 14:02" this week, a date before."""
    if at.date() == now.date():
        return f"{at:%H:%M}"
    if now - at < timedelta(days=6):
        return f"{at:%a %H:%M}"
    return f"{at:%Y-%m-%d}"


def since_phrase(at: float | None, now: datetime) -> str:
    if at is None:
        return ""
    return f"seen since {when(datetime.fromtimestamp(at, UTC), now)}"


def next_step(row: AccountRow, read_only: bool = False) -> str:
    """The row's problem and its next step; in read-only mode the keys it names are off,
    and it says so rather than send the user to a key that refuses."""
    if read_only and row.problem and "press " in row.problem:
        return f"{row.problem} (read-only: actions are off here)"
    return row.problem


def row_line(
    row: AccountRow,
    since: float | None,
    fetched_at: datetime | None,
    now: datetime,
    read_only: bool = False,
) -> Text:
    """The line under the table: the row's problem and next step, since when it is seen
    so, and how old the data is."""
    text = Text()
    text.append(f"{safe(row.name, 40)} · {row.platform_label} · ", style="bold")
    text.append(next_step(row, read_only) or "Healthy.")
    phrase = since_phrase(since, now)
    if phrase:
        text.append(f" ({phrase})")
    if fetched_at is not None:
        age = (now - fetched_at).total_seconds()
        text.append(f" · data as of {span(age)} ago", style="dim")
    return text


def flaps(changes: Sequence[HistoryEntry], now: datetime, days: int = 7) -> int:
    """How many times the account went from fine to a problem in the last `days`."""
    cutoff = (now - timedelta(days=days)).timestamp()
    return sum(
        1
        for change in changes
        if change.at >= cutoff
        and change.old_severity is not None
        and change.new_severity is not None
        and change.old_severity < Severity.WARNING <= change.new_severity
    )


def history_lines(changes: Sequence[HistoryEntry], now: datetime, limit: int = 12) -> list[str]:
    """Newest first: "Tue 14:02  ● connected → ✖ reauth_required"."""
    lines = []
    for change in changes[:limit]:
        at = when(datetime.fromtimestamp(change.at, UTC), now)
        old = _state(change.old_status, change.old_severity)
        new = _state(change.new_status, change.new_severity)
        lines.append(f"{at:>10}  {old} → {new}" if old else f"{at:>10}  first seen {new}")
    return lines


def _state(status: str | None, severity: int | None) -> str:
    if status is None:
        return ""
    glyph = SEVERITY_GLYPH.get(Severity(severity), "") if severity is not None else ""
    return f"{glyph} {safe(status, 30)}".strip()
