"""The organisation's health from the store, for `check`, metrics and alerts.

Counting 40,000 accounts must not mean building 40,000 rows: SQL counts the accounts whose
verdict cannot depend on anything but their columns (a valid ad token, a disconnected social
account, a connected one whose token outlives the warning window), and only the rest, the
few that may be problems, are judged by the domain rules in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from layers_tui.domain.status import (
    AccountRow,
    Severity,
    Summary,
    Thresholds,
    ad_row,
    social_row,
)
from layers_tui.models import AdAccount, Project, SocialAccount

from .inventory import error_from_record
from .store import ProjectRecord, Store, from_epoch

# What SQL may decide alone; everything else goes through domain.status (see module doc).
_SURELY_OK = (
    "(kind = 'ad' AND status = 'valid') OR (kind = 'social' AND status = 'connected' "
    "AND (expires_at IS NULL OR expires_at > ?))"
)
_SURELY_OFF = "kind = 'social' AND status = 'disconnected'"


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
) -> HealthReport:
    records = store.projects()
    if selection.project_ids is not None:
        wanted = set(selection.project_ids)
        records = [r for r in records if r.id in wanted]
    ids = [r.id for r in records] if selection.project_ids is not None else None
    scope = {"project_ids": ids, "platform": selection.platform, "kind": selection.kind}
    horizon = now.timestamp() + thresholds.warn_seconds
    ok = store.count_where(_SURELY_OK, (horizon,), **scope)
    off = store.count_where(_SURELY_OFF, (), **scope)
    projects = {r.id: Project.model_validate(r.doc) for r in records}
    refreshed = {r.id: from_epoch(r.refreshed_at) for r in records}
    counts = {severity: 0 for severity in Severity}
    counts[Severity.OK] += ok
    counts[Severity.OFF] += off
    problems: list[AccountRow] = []
    undecided = store.accounts_where(
        f"NOT ({_SURELY_OK}) AND NOT ({_SURELY_OFF})", (horizon,), **scope
    )
    for project_id, kind, doc in undecided:
        project = projects.get(project_id) or Project(id=project_id)
        row = _row(kind, doc, project, now, thresholds, refreshed.get(project_id))
        counts[row.severity] += 1
        if row.severity >= Severity.WARNING:
            problems.append(row)
    problems.sort(key=lambda row: (-int(row.severity), row.project_name, row.name))
    stamp = now.timestamp()
    never = [r for r in records if r.refreshed_at is None]
    stale = [
        r
        for r in records
        if r.refreshed_at is not None and max_age is not None and stamp - r.refreshed_at > max_age
    ]
    failed = [r for r in records if error_from_record(r.error) is not None]
    expiry = store.min_expiry(**scope)
    times = [r.refreshed_at for r in records if r.refreshed_at is not None]
    return HealthReport(
        summary=Summary(
            critical=counts[Severity.CRITICAL],
            warning=counts[Severity.WARNING],
            ok=counts[Severity.OK],
            off=counts[Severity.OFF],
        ),
        problems=problems,
        projects=records,
        stale=stale,
        never=never,
        failed=failed,
        min_expiry_seconds=None if expiry is None else expiry - stamp,
        oldest_data=from_epoch(min(times)) if times else None,
    )


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
