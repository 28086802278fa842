"""The organisation's health from the store, for `check`, metrics and alerts.

Counting 40,000 accounts must not mean building 40,000 rows: SQL counts by the columns the
verdict depends on (kind, status, token expiry against now and the thresholds), mirroring
`domain.status` (a property test holds the two together), and only the problem rows a
report shows (`problem_limit`) are built and judged by the domain rules in Python.
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
# The soonest token expiry, as `Store.min_expiry` reads it.
_MIN_EXPIRY = "MIN(CASE WHEN status = 'connected' AND expires_at IS NOT NULL THEN expires_at END)"


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
    projects: list[ProjectRecord]
    stale: list[ProjectRecord] = field(default_factory=list)  # not refreshed within max_age
    never: list[ProjectRecord] = field(default_factory=list)  # never refreshed at all
    failed: list[ProjectRecord] = field(default_factory=list)  # last attempt failed
    min_expiry_seconds: float | None = None
    oldest_data: datetime | None = None
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


def health(
    store: Store,
    now: datetime,
    thresholds: Thresholds,
    selection: Selection = Selection(),
    max_age: float | None = None,
    *,
    stale_before: float | None = None,
    problem_limit: int | None = None,
    records: Sequence[ProjectRecord] | None = None,
    counts: Sequence[tuple[str, Sequence[object]]] = (),
) -> HealthReport:
    """Counts by severity in SQL; problem rows (worst first, at most `problem_limit`)
    judged by the domain rules. Projects refreshed before `stale_before` (epoch; or more
    than `max_age` seconds before `now`) are stale, and `stale_summary` counts their
    problems. `records`: the store's projects when the caller has just read them. `counts`:
    more conditions (SQL, parameters) counted in the same pass over the accounts."""
    chosen = list(store.projects() if records is None else records)
    if selection.project_ids is not None:
        wanted = set(selection.project_ids)
        chosen = [r for r in chosen if r.id in wanted]
    ids = [r.id for r in chosen] if selection.project_ids is not None else None
    scope = {"project_ids": ids, "platform": selection.platform, "kind": selection.kind}
    stamp = now.timestamp()
    ok_after = stamp + max(thresholds.warn_seconds, thresholds.crit_seconds)
    crit_until = stamp + thresholds.crit_seconds
    warning_params = (ok_after, crit_until)
    total, ok, off, critical, expiry, *extra = store.aggregate(
        [
            ("COUNT(*)", ()),
            (_count(_SURELY_OK), (ok_after,)),
            (_count(_SURELY_OFF), ()),
            (_count(_CRITICAL), (crit_until,)),
            (_MIN_EXPIRY, ()),
            *((_count(condition), params) for condition, params in counts),
        ],
        **scope,
    )
    if stale_before is None and max_age is not None:
        stale_before = stamp - max_age
    stale = [
        r
        for r in chosen
        if r.refreshed_at is not None and stale_before is not None and r.refreshed_at < stale_before
    ]
    stale_summary = Summary()
    if stale:
        stale_scope = {**scope, "project_ids": [r.id for r in stale]}
        stale_critical = store.count_where(_CRITICAL, (crit_until,), **stale_scope)
        stale_warning = store.count_where(_WARNING, warning_params, **stale_scope)
        stale_summary = Summary(critical=stale_critical, warning=stale_warning)
    by_id = {r.id: r for r in chosen}
    projects: dict[str, tuple[Project, datetime | None]] = {}  # only those with problems shown
    problems: list[AccountRow] = []
    for condition, params in ((_CRITICAL, (crit_until,)), (_WARNING, warning_params)):
        limit = None if problem_limit is None else problem_limit - len(problems)
        if limit is not None and limit <= 0:
            break
        for project_id, kind, doc in _accounts(store, condition, params, scope, limit):
            if project_id not in projects:
                record = by_id.get(project_id)
                projects[project_id] = (
                    (Project.model_validate(record.doc), from_epoch(record.refreshed_at))
                    if record
                    else (Project(id=project_id), None)
                )
            project, refreshed = projects[project_id]
            problems.append(_row(kind, doc, project, now, thresholds, refreshed))
    problems.sort(key=lambda row: (-int(row.severity), row.project_name, row.name))
    never = [r for r in chosen if r.refreshed_at is None]
    failed = [r for r in chosen if error_from_record(r.error) is not None]
    times = [r.refreshed_at for r in chosen if r.refreshed_at is not None]
    return HealthReport(
        summary=Summary(
            critical=critical,
            warning=total - ok - off - critical,
            ok=ok,
            off=off,
        ),
        problems=problems,
        projects=chosen,
        stale=stale,
        never=never,
        failed=failed,
        min_expiry_seconds=None if expiry is None else expiry - stamp,
        oldest_data=from_epoch(min(times)) if times else None,
        stale_summary=stale_summary,
        counts=tuple(extra),
    )


def _count(condition: str) -> str:
    """An aggregate counting the accounts that match `condition` (0 when none do)."""
    return f"COUNT(CASE WHEN ({condition}) THEN 1 END)"


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
    now: datetime,
    thresholds: Thresholds,
    refreshed: datetime | None,
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
            now,
            thresholds,
            refreshed.get(project_id),
        )
        for project_id, kind, doc in store.accounts_where(
            "1 = 1", (), project_ids=ids, platform=selection.platform, kind=selection.kind
        )
    ]
