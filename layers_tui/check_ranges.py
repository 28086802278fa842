"""Threshold ranges and performance data as the Monitoring Plugins guidelines write them,
and the durations `check` and `history` accept: parsing and formatting only, no I/O.

`10` is 0..10, `10:` is 10..inf, `~:10` is -inf..10, `10:20` and `@10:20` as written; a
perfdata item is `'label'=value[UOM];warn;crit;min;max`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from layers_tui.domain.status import Severity, Thresholds
from layers_tui.text import safe

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")


# -- durations ---------------------------------------------------------------------------------
def parse_duration(text: str) -> float:
    """`7d`, `24h`, `90m`, `30s` -> seconds. Raises ValueError with a usable message."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{safe(text, 40)!r} is not a duration like 7d, 24h, 90m or 30s")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86_400}[match.group(2)]


def parse_seconds(text: str) -> float:
    """A duration (`10m`, `20s`) or a plain number of seconds."""
    try:
        value = float(text)
    except ValueError:
        return parse_duration(text)
    if not 0 <= value < float("inf"):
        raise ValueError(f"{safe(text, 40)!r} is not a duration like 10m or 20s")
    return value


# -- thresholds: the Monitoring Plugins range syntax ------------------------------------------
_INF = float("inf")


@dataclass(frozen=True)
class Range:
    """A threshold range of the Monitoring Plugins guidelines: alert when the value lies
    outside [start, end], or inside it when `inside` (`@`). `10` is 0..10, `10:` is 10..inf,
    `~:10` is -inf..10, `10:20` and `@10:20` as written."""

    start: float = 0.0
    end: float = _INF
    inside: bool = False

    def alerts(self, value: float) -> bool:
        within = self.start <= value <= self.end
        return within if self.inside else not within

    @property
    def text(self) -> str:
        """The range as the guidelines write it (numbers only): for perfdata and JSON."""
        start = "~" if self.start == -_INF else _number(self.start)
        end = "" if self.end == _INF else _number(self.end)
        body = end if start == "0" and end else f"{start}:{end}"
        return ("@" if self.inside else "") + body

    def sql(self, now: float) -> tuple[str, list[float]]:
        """SQL over `expires_at` that holds when the seconds until expiry alert. Plain
        comparisons (`expires_at < ?`, never `NOT (...)`), so SQLite seeks in the index on
        expires_at rather than reading every token; NULL never alerts."""
        bounds: list[tuple[str, float]] = []
        if self.start != -_INF:
            bounds.append((">=" if self.inside else "<", now + self.start))
        if self.end != _INF:
            bounds.append(("<=" if self.inside else ">", now + self.end))
        if not bounds:
            return ("(1 = 1)" if self.inside else "(1 = 0)"), []
        joiner = " AND " if self.inside else " OR "
        text = joiner.join(f"expires_at {operator} ?" for operator, _ in bounds)
        return f"({text})", [value for _, value in bounds]

    def complement(self) -> Range:
        """The range that alerts exactly where this one does not."""
        return Range(self.start, self.end, not self.inside)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}".rstrip("0")


def _endpoint(text: str) -> float:
    """A number of seconds, or a duration (`7d`) as a friendly extra."""
    try:
        value = float(text)
    except ValueError:
        return parse_duration(text)
    if value != value or value in (_INF, -_INF):
        raise ValueError(f"{safe(text, 40)!r} is not a number")
    return value


def parse_range(text: str) -> Range:
    """`10`, `10:`, `~:10`, `10:20`, `@10:20` -> Range. Raises ValueError with a usable
    message."""
    raw = text.strip()
    body = raw[1:] if raw.startswith("@") else raw
    try:
        if not body:
            raise ValueError("empty")
        if ":" in body:
            low, high = body.split(":", 1)
            start = -_INF if low == "~" else (_endpoint(low) if low else 0.0)
            end = _endpoint(high) if high else _INF
        else:
            start, end = 0.0, _endpoint(body)
    except ValueError:
        raise ValueError(
            f"{safe(text, 40)!r} is not a range like 10, 10:, ~:10, 10:20 or @10:20"
        ) from None
    if start > end:
        raise ValueError(f"{safe(text, 40)!r}: the start of a range must not exceed its end")
    return Range(start, end, raw.startswith("@"))


@dataclass(frozen=True)
class ExpiryRanges:
    """`-w` and `-c` on the seconds until a connected account's token expires. An expired
    token, a reauth, a dead ad token stay CRITICAL whatever the ranges say."""

    warning: Range
    critical: Range

    @classmethod
    def of(cls, thresholds: Thresholds | ExpiryRanges) -> ExpiryRanges:
        """`Thresholds(warn, crit)` as `-w warn: -c crit:`."""
        if isinstance(thresholds, ExpiryRanges):
            return thresholds
        return cls(Range(thresholds.warn_seconds), Range(thresholds.crit_seconds))

    def severity(self, remaining: float) -> Severity:
        if self.critical.alerts(remaining):
            return Severity.CRITICAL
        if self.warning.alerts(remaining):
            return Severity.WARNING
        return Severity.OK

    def describe(self) -> dict[str, str]:
        return {"warning": self.warning.text, "critical": self.critical.text}


# -- performance data --------------------------------------------------------------------------
PERF_UNITS = ("", "s", "%", "B", "KB", "MB", "TB", "c")


def _label(label: str) -> str:
    """A perfdata label: quoted when it holds a space; `=` and `'` are not allowed."""
    if "=" in label or "'" in label:
        raise ValueError(f"{label!r} cannot be a perfdata label")
    return f"'{label}'" if " " in label else label


def perfdata(
    label: str,
    value: float,
    unit: str = "",
    *,
    warn: str = "",
    crit: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
) -> str:
    """One performance data item; trailing empty fields are left out."""
    if unit not in PERF_UNITS:
        raise ValueError(f"{unit!r} is not a perfdata unit")
    fields = [
        f"{_label(label)}={_number(value)}{unit}",
        warn,
        crit,
        "" if minimum is None else _number(minimum),
        "" if maximum is None else _number(maximum),
    ]
    while fields[-1] == "":
        fields.pop()
    return ";".join(fields)
