"""The organisation's health from the store, for `check`, metrics and alerts.

Counting 40,000 accounts must not mean building 40,000 rows: SQL counts by the columns the
verdict depends on (kind, status, token expiry against now and the thresholds), mirroring
`domain.status` (a property test holds the two together), and only the problem rows a
report shows (`problem_limit`) are built and judged by the domain rules in Python. Likewise
only the projects a report names are read whole, not the 2,000 project documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from layers_tui.domain.status import (
    AccountRow,
    Summary,
    Thresholds,
    ad_row,
    social_row,
)
from layers_tui.models import AdAccount, Project, SocialAccount

from .inventory import error_from_record
from .store import ProjectRecord, Store, from_epoch

# SQL's reading of domain.status (see module doc). Parameters: now + max(warn, crit) for
# OK, now + crit for CRITICAL; WARNING is every other account (unknown statuses included).
_SURELY_OK = (
    "(kind = 'ad' AND status = 'valid') OR (kind = 'social' AND status = 'connected' "
    "AND (expires_at IS NULL OR expires_at > ?))"
)
_SURELY_OFF = "kind = 'social' AND status = 'disconnected'"
_CRITICAL = (
    "(kind = 'social' AND status = 'reauth_required') "
    "OR (kind = 'ad' AND status IN ('expired', 'revoked', 'invalid')) "
    "OR (kind = 'social' AND status = 'connected' AND expires_at IS NOT NULL "
    "AND expires_at <= ?)"
)
_WARNING = f"NOT ({_SURELY_OK}) AND NOT ({_SURELY_OFF}) AND NOT ({_CRITICAL})"


@dataclass(frozen=True)
class Selection:
    """Which projects and accounts a report covers."""

    project_ids: tuple[str, ...] | None = None  # None: every project
    platform: str | None = None
    kind: str | None = None


@dataclass
class HealthReport:
    summary: Summary
    problems: list[AccountRow]  # warning and critical rows, worst first
    project_count: int  # projects listed in the selection
    stale: list[ProjectRecord] = field(default_factory=list)  # not refreshed within max_age
    never: list[ProjectRecord] = field(default_factory=list)  # never refreshed at all
    failed: list[ProjectRecord] = field(default_factory=list)  # last attempt failed
    invalid: list[ProjectRecord] = field(default_factory=list)  # with unreadable records
    min_expiry_seconds: float | None = None
    stale_summary: Summary = field(default_factory=Summary)  # problems in stale projects
    counts: tuple[int, ...] = ()  # of the `counts` conditions asked for, in order


def match_projects(records: Sequence[ProjectRecord], wanted: str) -> list[ProjectRecord]:
    """Projects by exact id, else by name (exact, then containing), case-insensitively."""
    needle = wanted.strip().lower()
    by_id = [r for r in records if r.id.lower() == needle]
    if by_id:
        return by_id
    named = [r for r in records if str(r.doc.get("name", "")).lower() == needle]
    if named:
        return named
    return [r for r in records if needle and needle in str(r.doc.get("name", "")).lower()]


def summary_counts(
    store: Store, now: datetime, thresholds: Thresholds, selection: Selection = Selection()
) -> tuple[Summary, float | None]:
    """The selection's summary by the domain rules, and its soonest token expiry (epoch),
    counted in SQL: one walk of the covering index by (kind, status), then index range
    counts over the connected tokens that expire within the thresholds."""
    scope = _scope(selection)
    stamp = now.timestamp()
    ok_after = stamp + max(thresholds.warn_seconds, thresholds.crit_seconds)
    crit_until = stamp + thresholds.crit_seconds
    by_state = store.state_counts(**scope)
    expiring = "kind = 'social' AND status = 'connected' AND expires_at <= ?"
    connected = by_state.get(("social", "connected"), 0)
    not_ok_yet = store.count_where(expiring, (ok_after,), **scope) if connected else 0
    expired = store.count_where(expiring, (crit_until,), **scope) if connected else 0
    ok = by_state.get(("ad", "valid"), 0) + connected - not_ok_yet
    off = by_state.get(("social", "disconnected"), 0)
    critical = expired + sum(
        by_state.get(state, 0)
        for state in (
            ("social", "reauth_required"),
            ("ad", "expired"),
            ("ad", "revoked"),
            ("ad", "invalid"),
        )
    )
    soonest = [
        value
        for kind in sorted({kind for kind, status in by_state if status == "connected"})
        if (value := store.min_expiry(scope["project_ids"], selection.platform, kind)) is not None
    ]
    summary = Summary(
        critical=critical, warning=sum(by_state.values()) - ok - off - critical, ok=ok, off=off
    )
    return summary, min(soonest, default=None)


def health(
    store: Store,
    now: datetime,
    thresholds: Thresholds,
    selection: Selection = Selection(),
    max_age: float | None = None,
    *,
    stale_before: float | None = None,
    problem_limit: int | None = None,
    counts: Sequence[tuple[str, Sequence[object]]] = (),
) -> HealthReport:
    """Counts by severity in SQL; problem rows (worst first, at most `problem_limit`)
    judged by the domain rules. Projects refreshed before `stale_before` (epoch; or more
    than `max_age` seconds before `now`) are stale, and `stale_summary` counts their
    problems. `counts`: more conditions (SQL, parameters) counted over the selection. Only
    the projects a report names are read whole: stale, never loaded, failed, with
    unreadable records, or owning a problem row shown. Every read sees one state of the
    store."""
    with store.read_snapshot():
        return _health(
            store, now, thresholds, selection, max_age, stale_before, problem_limit, counts
        )


def _health(
    store: Store,
    now: datetime,
    thresholds: Thresholds,
    selection: Selection,
    max_age: float | None,
    stale_before: float | None,
    problem_limit: int | None,
    counts: Sequence[tuple[str, Sequence[object]]],
) -> HealthReport:
    scope = _scope(selection)
    stamp = now.timestamp()
    ok_after = stamp + max(thresholds.warn_seconds, thresholds.crit_seconds)
    crit_until = stamp + thresholds.crit_seconds
    warning_params = (ok_after, crit_until)
    summary, expiry = summary_counts(store, now, thresholds, selection)
    extra = tuple(store.count_where(condition, params, **scope) for condition, params in counts)
    if stale_before is None and max_age is not None:
        stale_before = stamp - max_age
    project_count = store.listed_count(scope["project_ids"])
    notable = store.notable_projects(stale_before, scope["project_ids"])
    stale = [
        r
        for r in notable
        if r.refreshed_at is not None and stale_before is not None and r.refreshed_at < stale_before
    ]
    stale_summary = Summary()
    if stale:
        stale_scope = {**scope, "project_ids": [r.id for r in stale]}
        stale_critical = store.count_where(_CRITICAL, (crit_until,), **stale_scope)
        stale_warning = store.count_where(_WARNING, warning_params, **stale_scope)
        stale_summary = Summary(critical=stale_critical, warning=stale_warning)
    found: list[tuple[str, str, dict]] = []
    for condition, params in ((_CRITICAL, (crit_until,)), (_WARNING, warning_params)):
        limit = None if problem_limit is None else problem_limit - len(found)
        if limit is not None and limit <= 0:
            break
        found.extend(_accounts(store, condition, params, scope, limit))
    owners = project_rows(store, {project_id for project_id, _, _ in found})
    problems = [
        _row(kind, doc, *owners[project_id], now, thresholds) for project_id, kind, doc in found
    ]
    problems.sort(key=lambda row: (-int(row.severity), row.project_name, row.name))
    return HealthReport(
        summary=summary,
        problems=problems,
        project_count=project_count,
        stale=stale,
        never=[r for r in notable if r.refreshed_at is None],
        failed=[r for r in notable if error_from_record(r.error) is not None],
        invalid=[r for r in notable if r.invalid],
        min_expiry_seconds=None if expiry is None else expiry - stamp,
        stale_summary=stale_summary,
        counts=extra,
    )


def project_rows(store: Store, project_ids: set[str]) -> dict[str, tuple[Project, datetime | None]]:
    """(project, refreshed at) of each id, read from the store; a bare project for an id
    no longer listed."""
    records = store.projects_by_id(project_ids)
    return {
        project_id: (
            (Project.model_validate(record.doc), from_epoch(record.refreshed_at))
            if (record := records.get(project_id))
            else (Project(id=project_id), None)
        )
        for project_id in project_ids
    }


def _scope(selection: Selection) -> dict:
    ids = list(selection.project_ids) if selection.project_ids is not None else None
    return {"project_ids": ids, "platform": selection.platform, "kind": selection.kind}


def _accounts(
    store: Store,
    condition: str,
    params: Sequence[object],
    scope: dict,
    limit: int | None,
) -> list[tuple[str, str, dict]]:
    """Accounts matching `condition` within `scope`; with `limit`, only the first ones
    (SQL picks them, so the others are never read)."""
    if limit is None:
        return store.accounts_where(condition, params, **scope)
    return store.first_accounts(condition, params, limit, **scope)


def _row(
    kind: str,
    doc: dict,
    project: Project,
    refreshed: datetime | None,
    now: datetime,
    thresholds: Thresholds,
) -> AccountRow:
    if kind == "social":
        return social_row(SocialAccount.model_validate(doc), project, now, thresholds, refreshed)
    return ad_row(AdAccount.model_validate(doc), project)


def account_rows(
    store: Store, now: datetime, thresholds: Thresholds, selection: Selection = Selection()
) -> list[AccountRow]:
    """Every account of a selection as a full row (for `check --json`, which lists them all:
    O(accounts), unlike `health`)."""
    records = store.projects()
    projects = {r.id: Project.model_validate(r.doc) for r in records}
    refreshed = {r.id: from_epoch(r.refreshed_at) for r in records}
    ids = list(selection.project_ids) if selection.project_ids is not None else None
    return [
        _row(
            kind,
            doc,
            projects.get(project_id) or Project(id=project_id),
            refreshed.get(project_id),
            now,
            thresholds,
        )
        for project_id, kind, doc in store.accounts_where(
            "1 = 1", (), project_ids=ids, platform=selection.platform, kind=selection.kind
        )
    ]
