"""Which alerts `watch` sends, and when: decisions only (delivery is `notify.py`). No Textual.

The engine follows the store's status history (the `Change`s the inventory reports) and
remembers, per notify target and subject (an account, or the organisation's data freshness),
the state that target was last told about, in the store: a restart never repeats an alert.
A new state alerts once it has held for the target's `min_duration` (a flap back before
then sends nothing); during the target's quiet hours nothing is decided, so when they end
only the net change is sent (broke and recovered overnight: nothing; still broken: one
alert). A target's rate limit holds the excess and sends it later as one summary.
Transient API errors change no account (the store keeps the last good data), so they never
alert as account problems; only a long stretch without any successful refresh does, once,
as "data stale".

Events (one JSON object; `schemaVersion` 1, fields only ever added):
  every event: schemaVersion, id ("evt_..."; the webhook-id), type, at (ISO 8601 UTC),
    profile, host (this machine), keyId (never the key), organization, summary (one line),
    problem ("" when fine), action ("reauth" | "connect" | "none")
  type "account.severity_changed": change ("worse" | "better" | "recovered"), since (when
    the new state began), account {id, kind: social|ad, platform, name}, project {id, name},
    old {status, severity}, new {status, severity}; severities "off" | "ok" | "warning" |
    "critical"
  type "data.stale" / "data.fresh": lastRefreshAt (null: never)
  type "alerts.suppressed": count, summaries (the first 20 held by the rate limit)
Untrusted text (names, statuses) is made safe (no control characters) before it is sent.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, tzinfo
from typing import Any

from layers_tui.check_ranges import parse_seconds
from layers_tui.clock import Clock
from layers_tui.domain.status import (
    PLATFORM_LABELS,
    Severity,
    Thresholds,
    ad_row,
    remedy,
    social_row,
)
from layers_tui.models import AdAccount, Project, SocialAccount
from layers_tui.session.store import Change, Store
from layers_tui.text import safe

log = logging.getLogger("layers_tui.alerts")

EVENT_SCHEMA_VERSION = 1
DATA_SUBJECT = "data"
MAX_POLL_SECONDS = 30.0
SUPPRESSED_LISTED = 20  # alerts named in one "suppressed" summary
SEVERITY_NAMES = {severity: severity.name.lower() for severity in Severity}

_QUIET = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*(\S+)?\s*$")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\S+)\s*$")


def parse_duration(text: str) -> float:
    """`30s`, `5m`, `1h`, `2d` or plain seconds, as `check` takes them -> seconds; the
    ValueError's message is worded for a config key ("min_duration: is not …")."""
    try:
        return parse_seconds(str(text).strip())
    except ValueError:
        raise ValueError("is not a duration like 30s, 5m, 1h or 2d") from None


@dataclass(frozen=True)
class QuietHours:
    """A daily window, e.g. 22:00-07:00 (may wrap midnight), in `zone` (None: local time)."""

    start: time
    end: time
    zone: tzinfo | None = None

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        match = _QUIET.match(text)
        if not match:
            raise ValueError('is not a window like "22:00-07:00" or "22:00-07:00 Europe/Paris"')
        h1, m1, h2, m2 = (int(match.group(i)) for i in range(1, 5))
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError("has a time outside 00:00 .. 23:59")
        if (h1, m1) == (h2, m2):
            raise ValueError("starts and ends at the same time")
        zone: tzinfo | None = None
        if match.group(5):
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                zone = ZoneInfo(match.group(5))
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"names an unknown time zone {safe(match.group(5), 40)!r} "
                    "(use an IANA name such as Europe/Paris, or UTC)"
                ) from None
        return cls(time(h1, m1), time(h2, m2), zone)

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone).time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(frozen=True)
class RateLimit:
    """At most `count` alerts per `period` seconds, e.g. "10/1h"."""

    count: int
    period: float

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        match = _RATE.match(str(text))
        if not match:
            raise ValueError('is not a limit like "10/1h" (alerts per period)')
        count, period = int(match.group(1)), parse_duration(match.group(2))
        if count < 1 or period <= 0:
            raise ValueError("needs at least 1 alert per a period longer than 0")
        return cls(count, period)


@dataclass(frozen=True)
class AlertPolicy:
    """When one target hears about a change."""

    name: str
    min_duration: float = 300.0
    quiet_hours: QuietHours | None = None
    rate_limit: RateLimit | None = None
    min_severity: Severity = Severity.WARNING
    stale_after: float = 900.0


@dataclass(frozen=True)
class EventContext:
    """Who sends: put in every event (never the key itself)."""

    profile: str | None = None
    host: str | None = None
    key_id: str | None = None
    organization: str | None = None


@dataclass(frozen=True)
class Alert:
    target: str
    event: dict[str, Any]

    @property
    def summary(self) -> str:
        return str(self.event.get("summary", ""))


@dataclass
class _Candidate:
    state: str
    since: float
    change: Change | None
    from_status: str | None


@dataclass
class _Limiter:
    limit: RateLimit
    sent: deque[float] = field(default_factory=deque)
    held: list[str] = field(default_factory=list)

    def _room(self, stamp: float) -> bool:
        while self.sent and self.sent[0] <= stamp - self.limit.period:
            self.sent.popleft()
        return len(self.sent) < self.limit.count

    def admit(self, stamp: float, summary: str) -> bool:
        if not self.held and self._room(stamp):
            self.sent.append(stamp)
            return True
        self.held.append(summary)
        return False

    def release(self, stamp: float) -> list[str] | None:
        """The held summaries, once there is room for one message carrying them."""
        if not self.held or not self._room(stamp):
            return None
        self.sent.append(stamp)
        held, self.held = self.held, []
        return held

    def free_in(self, stamp: float) -> float | None:
        if not self.held:
            return None
        return max(0.0, self.sent[0] + self.limit.period - stamp) if self.sent else 0.0


@dataclass
class _Target:
    policy: AlertPolicy
    notified: dict[str, str] = field(default_factory=dict)
    pending: dict[str, _Candidate] = field(default_factory=dict)
    limiter: _Limiter | None = None


def account_subject(kind: str, key: str) -> str:
    return f"{kind}:{key}"


def iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _severity_name(state: str | int | None) -> str | None:
    if state is None:
        return None
    try:
        return SEVERITY_NAMES[Severity(int(state))]
    except ValueError:
        return str(state)


class AlertEngine:
    """Turns status history into alerts for a set of targets. Call `start()` once, then
    `observe()` with every batch of changes and `poll()` whenever it is due (`next_poll_in`).
    With `record=False` (watch --dry-run) nothing is written to the store."""

    def __init__(
        self,
        store: Store,
        policies: Sequence[AlertPolicy],
        clock: Clock,
        context: EventContext = EventContext(),
        thresholds: Thresholds | None = None,
        record: bool = True,
    ) -> None:
        self.store = store
        self.clock = clock
        self.context = context
        self.thresholds = thresholds or Thresholds()
        self.record = record
        self.targets = [
            _Target(policy, limiter=_Limiter(policy.rate_limit) if policy.rate_limit else None)
            for policy in policies
        ]
        self.started_at = clock.now().timestamp()

    # -- following the history ---------------------------------------------------------------
    def start(self) -> None:
        """Load what each target was told; accounts a target never saw are its baseline (no
        alert); accounts whose state moved while no engine ran become candidates."""
        stamp = self.clock.now().timestamp()
        accounts = self.store.account_severities()
        since: dict[tuple[str, str], float] | None = None
        for target in self.targets:
            target.notified = self.store.alert_states(target.policy.name)
            unseen = [
                (account_subject(kind, key), str(severity))
                for _, kind, key, severity in accounts
                if account_subject(kind, key) not in target.notified
            ]
            if unseen and self.record:
                self.store.seed_alert_states(target.policy.name, unseen, stamp)
            target.notified.update(unseen)
            for _, kind, key, severity in accounts:
                subject = account_subject(kind, key)
                if target.notified[subject] == str(severity):
                    continue
                if since is None:
                    since = self.store.severity_since()
                latest = self.store.history(account_key=key, limit=1)
                change = latest[0] if latest and latest[0].kind == kind else None
                target.pending[subject] = _Candidate(
                    str(severity),
                    since.get((kind, key), stamp),
                    change,
                    change.old_status if change else None,
                )

    def observe(self, changes: Iterable[Change]) -> None:
        """New history entries (this process's refreshes or another's, followed)."""
        for change in changes:
            subject = account_subject(change.kind, change.account_key)
            for target in self.targets:
                self._observe_one(target, subject, change)

    def _observe_one(self, target: _Target, subject: str, change: Change) -> None:
        if change.new_severity is None:  # the account is gone: nothing left to alert on
            target.pending.pop(subject, None)
            return
        state = str(change.new_severity)
        notified = target.notified.get(subject)
        if notified is None:  # first sight (a new account or project): its baseline
            target.notified[subject] = state
            if self.record:
                self.store.seed_alert_states(target.policy.name, [(subject, state)], change.at)
            return
        if state == notified:  # back where the target last heard: a flap, nothing to say
            target.pending.pop(subject, None)
            return
        candidate = target.pending.get(subject)
        if candidate is not None and candidate.state == state:
            candidate.change = change  # same severity, newer status: keep its start time
            return
        from_status = candidate.from_status if candidate is not None else change.old_status
        target.pending[subject] = _Candidate(state, change.at, change, from_status)

    # -- deciding ------------------------------------------------------------------------------
    def poll(self) -> list[Alert]:
        """The alerts due now, in order; each is recorded before it is returned (at most
        once, even when delivery fails or the process dies right after)."""
        now = self.clock.now()
        stamp = now.timestamp()
        last_refresh = self.store.last_refreshed_at()
        alerts: list[Alert] = []
        for target in self.targets:
            policy = target.policy
            if policy.quiet_hours is not None and policy.quiet_hours.contains(now):
                continue
            if target.limiter is not None:
                held = target.limiter.release(stamp)
                if held:
                    alerts.append(Alert(policy.name, self._suppressed_event(held, policy, now)))
            told = target.notified.get(DATA_SUBJECT)
            # A start is a grace period (old data from before it is being refreshed), unless
            # the target already heard "stale": then only a real refresh makes it fresh.
            fresh_at = last_refresh or 0.0
            if told != "stale":
                fresh_at = max(fresh_at, self.started_at)
            stale = stamp - fresh_at >= policy.stale_after
            state = "stale" if stale else "fresh"
            if state != (told or "fresh") and self._advance(target, DATA_SUBJECT, told, state):
                event = self._data_event(stale, last_refresh, stamp - fresh_at, now)
                self._emit(target, alerts, event, stamp)
            for subject, candidate in list(target.pending.items()):
                if stamp - candidate.since < policy.min_duration:
                    continue
                del target.pending[subject]
                old = target.notified.get(subject)
                if not self._advance(target, subject, old, candidate.state):
                    continue
                worst = max(int(candidate.state), int(old) if old is not None else 0)
                if worst < policy.min_severity:
                    continue
                event = self._account_event(subject, old, candidate, now)
                self._emit(target, alerts, event, stamp)
        return alerts

    def next_poll_in(self) -> float:
        """Seconds until something may be due (a candidate's min_duration, a rate-limited
        summary); never more than MAX_POLL_SECONDS (staleness and the end of quiet hours
        are looked at that often)."""
        now = self.clock.now()
        stamp = now.timestamp()
        wait = MAX_POLL_SECONDS
        for target in self.targets:
            quiet = target.policy.quiet_hours
            if quiet is not None and quiet.contains(now):
                continue  # nothing is due before they end; looked at again within the cap
            for candidate in target.pending.values():
                wait = min(wait, candidate.since + target.policy.min_duration - stamp)
            if target.limiter is not None:
                free = target.limiter.free_in(stamp)
                if free is not None:
                    wait = min(wait, free)
        return max(0.0, wait)

    def _advance(self, target: _Target, subject: str, old: str | None, state: str) -> bool:
        if self.record and not self.store.advance_alert_state(
            target.policy.name, subject, old, state, self.clock.now().timestamp()
        ):
            # Another watch on this store decided it first and sends it.
            current = self.store.alert_states(target.policy.name).get(subject)
            if current is not None:
                target.notified[subject] = current
            return False
        target.notified[subject] = state
        return True

    def _emit(self, target: _Target, alerts: list[Alert], event: dict, stamp: float) -> None:
        if target.limiter is not None and not target.limiter.admit(stamp, event["summary"]):
            log.info("alert to %s held by its rate limit: %s", target.policy.name, event["type"])
            return
        alerts.append(Alert(target.policy.name, event))

    # -- events --------------------------------------------------------------------------------
    def _envelope(self, kind: str, now: datetime) -> dict[str, Any]:
        return {
            "schemaVersion": EVENT_SCHEMA_VERSION,
            "id": f"evt_{uuid.uuid4().hex}",
            "type": kind,
            "at": iso(now.timestamp()),
            "profile": self.context.profile,
            "host": self.context.host,
            "keyId": self.context.key_id,
            "organization": self.context.organization,
        }

    def _account_event(
        self, subject: str, old: str | None, candidate: _Candidate, now: datetime
    ) -> dict[str, Any]:
        kind, key = subject.split(":", 1)
        change = candidate.change
        project_id = change.project_id if change else ""
        record = self.store.project(project_id) if project_id else None
        project = Project.model_validate(record.doc) if record else Project(id=project_id)
        platform = change.platform if change else ""
        name = change.name if change else ""
        new_status = change.new_status if change else None
        problem, action = self._remedy(kind, key, project, now)
        new_severity = int(candidate.state)
        old_severity = int(old) if old is not None else None
        if old_severity is not None and new_severity > old_severity:
            direction = "worse"
        elif new_severity <= Severity.OK:
            direction = "recovered"
        else:
            direction = "better"
        label = PLATFORM_LABELS.get(platform) or safe(platform, 20)
        old_text = safe(candidate.from_status, 30) if candidate.from_status else "(new)"
        summary = (
            f"{safe(project.name or project_id, 60)} / {label} {safe(name or key, 60)}: "
            f"{old_text} -> {safe(new_status or '?', 30)} ({_severity_name(new_severity)})"
        )
        if problem:
            summary += f": {problem}"
        return {
            **self._envelope("account.severity_changed", now),
            "change": direction,
            "since": iso(candidate.since),
            "account": {
                "id": safe(key, None),
                "kind": kind,
                "platform": safe(platform, None),
                "name": safe(name, None),
            },
            "project": {"id": safe(project_id, None), "name": safe(project.name or "", None)},
            "old": {
                "status": safe(candidate.from_status, None) if candidate.from_status else None,
                "severity": _severity_name(old_severity),
            },
            "new": {
                "status": safe(new_status, None) if new_status else None,
                "severity": _severity_name(new_severity),
            },
            "problem": problem,
            "action": action,
            "summary": summary,
        }

    def _remedy(self, kind: str, key: str, project: Project, now: datetime) -> tuple[str, str]:
        found = self.store.accounts_where(
            "kind = ? AND key = ?", (kind, key), project_ids=[project.id]
        )
        if not found:
            return "", "none"
        try:
            if kind == "social":
                row = social_row(
                    SocialAccount.model_validate(found[0][2]), project, now, self.thresholds
                )
            else:
                row = ad_row(AdAccount.model_validate(found[0][2]), project)
        except ValueError:
            return "", "none"
        problem, action = remedy(row, now)
        return safe(problem, None), action

    def _data_event(
        self, stale: bool, last_refresh: float | None, age: float, now: datetime
    ) -> dict[str, Any]:
        if stale:
            summary = (
                f"data stale: no successful refresh for {int(age // 60)} min "
                f"(last: {iso(last_refresh) or 'never'})"
            )
        else:
            summary = f"data fresh again (refreshed {iso(last_refresh)})"
        return {
            **self._envelope("data.stale" if stale else "data.fresh", now),
            "lastRefreshAt": iso(last_refresh),
            "problem": "no successful refresh" if stale else "",
            "action": "none",
            "summary": summary,
        }

    def _suppressed_event(
        self, held: list[str], policy: AlertPolicy, now: datetime
    ) -> dict[str, Any]:
        assert policy.rate_limit is not None
        listed = held[:SUPPRESSED_LISTED]
        more = f" (and {len(held) - len(listed)} more)" if len(held) > len(listed) else ""
        return {
            **self._envelope("alerts.suppressed", now),
            "count": len(held),
            "summaries": listed,
            "summary": f"{len(held)} alert(s) held by the rate limit of "
            f"{policy.rate_limit.count} per {int(policy.rate_limit.period)} s: "
            + "; ".join(listed)
            + more,
        }
