"""What the dashboard shows, as data: projects, their last snapshots, rows and totals.

No Textual here: the dashboard screen renders a `Board`, the inventory fills it, and tests
can drive it without a terminal.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from layers_tui.api import ApiError
from layers_tui.domain.filtering import sort_rows
from layers_tui.domain.status import AccountRow, Summary, Thresholds, combine, summarize
from layers_tui.inventory import ProjectSnapshot
from layers_tui.models import Project

if TYPE_CHECKING:
    from layers_tui.session.session import Session


class Board:
    """Rows are computed per project once per data change (and again every recompute, so
    relative times move); sorting is cached per (selection, order, data version)."""

    def __init__(self, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self.projects: list[Project] = []
        self.snapshots: dict[str, ProjectSnapshot] = {}
        self.listed = False  # the project list has been seen (from the store or the API)
        self.rows_at: datetime | None = None
        self._rows: dict[str, list[AccountRow]] = {}
        self._summaries: dict[str, Summary] = {}
        self._changes_at: dict[str, datetime | None] = {}  # when a row's severity next moves
        self._version = 0
        self._total: Summary | None = None  # cleared whenever a summary moves
        self._failed: tuple[int, int] = (-1, 0)
        self._sorted: list[AccountRow] = []
        self._sorted_key: tuple | None = None

    # -- changes ---------------------------------------------------------------------------
    def set_projects(self, projects: list[Project]) -> None:
        self.projects = list(projects)
        self.listed = True
        self._version += 1
        known = {project.id for project in self.projects}
        for gone in set(self.snapshots) - known:
            del self.snapshots[gone]
            self._rows.pop(gone, None)
            self._summaries.pop(gone, None)
            self._total = None
            self._changes_at.pop(gone, None)

    def put(self, snapshot: ProjectSnapshot) -> bool:
        """Take a project's new snapshot; False when nothing visible changed. A failed fetch
        keeps the last good data, marked with the error."""
        project_id = snapshot.project.id
        previous = self.snapshots.get(project_id)
        if (
            snapshot.error is not None
            and previous is not None
            and not (snapshot.social or snapshot.ads)
        ):
            snapshot = ProjectSnapshot(
                previous.project,
                previous.social,
                previous.ads,
                previous.invalid,
                snapshot.error,
                previous.fetched_at,
            )
        self.snapshots[project_id] = snapshot
        if previous is not None and _same_data(previous, snapshot):
            return False
        self._rows.pop(project_id, None)
        self._summaries.pop(project_id, None)
        self._total = None
        self._version += 1
        return True

    def recompute(self, now: datetime) -> bool:
        """Move the rows to `now`: only projects with a token that crossed a threshold (or
        expired) since their rows were computed are computed again; every other row reads
        the same at any time (relative times are drawn from `rows_at`). True when a row's
        severity or text may have changed."""
        due = [pid for pid, at in self._changes_at.items() if at is not None and at <= now]
        for project_id in due:
            self._rows.pop(project_id, None)
            self._summaries.pop(project_id, None)
            self._total = None
            self._changes_at.pop(project_id, None)
        self.rows_at = now
        if due:
            self._version += 1
        return bool(due)

    def load_from(self, session: Session) -> None:
        """What the session's store holds, for an instant start."""
        snapshots = session.inventory.load_cached()
        if session.store.projects_listed_at() is not None:
            self.set_projects(session.inventory.projects)
        for snapshot in snapshots:
            self.put(snapshot)

    # -- reading ---------------------------------------------------------------------------
    def ensure_rows(self, now: datetime) -> None:
        if not self._rows:
            self.rows_at = now
        for project_id in self.snapshots:
            self.project_rows(project_id, now)

    def project_rows(self, project_id: str, now: datetime) -> list[AccountRow]:
        rows = self._rows.get(project_id)
        if rows is None:
            if not self._rows:
                self.rows_at = now
            rows = self._rows[project_id] = self.snapshots[project_id].rows(now, self.thresholds)
            self._summaries[project_id] = summarize(rows)
            self._total = None
            self._changes_at[project_id] = next_change(rows, now, self.thresholds)
        return rows

    def summary(self, project_id: str) -> Summary | None:
        return self._summaries.get(project_id)

    @property
    def total(self) -> Summary:
        if self._total is None:
            self._total = combine(self._summaries.values())
        return self._total

    def sorted_rows(self, selected: str | None, column: str, reverse: bool) -> list[AccountRow]:
        key = (selected, column, reverse, self._version)
        if key != self._sorted_key:
            if selected is None:
                rows = [
                    row
                    for project in self.projects
                    if project.id in self._rows
                    for row in self._rows[project.id]
                ]
            else:
                rows = list(self._rows.get(selected, ()))
            self._sorted = sort_rows(rows, column, reverse)
            self._sorted_key = key
        return self._sorted

    def project(self, project_id: str) -> Project | None:
        return next((p for p in self.projects if p.id == project_id), None)

    def timezones(self) -> dict[str, str]:
        return {project.id: project.timezone for project in self.projects}

    @property
    def failed_projects(self) -> int:
        if self._failed[0] != self._version:
            failed = sum(1 for snapshot in self.snapshots.values() if snapshot.error is not None)
            self._failed = (self._version, failed)
        return self._failed[1]

    def first_error(self) -> ApiError | None:
        return next((s.error for s in self.snapshots.values() if s.error is not None), None)

    def newest_data(self) -> datetime | None:
        times = [s.fetched_at for s in self.snapshots.values() if s.fetched_at is not None]
        return max(times, default=None)


def empty_message(
    board: Board,
    has_rows: bool,
    selected: str | None,
    filter_text: str,
    problems_only: bool,
    failing: bool,
    key_rejected: bool = False,
) -> str:
    """What an empty accounts table says, and what to do about it ("" when not empty)."""
    if not board.listed:
        if key_rejected:  # retrying cannot help
            return (
                "The API key was rejected (the error is shown above). `layers-tui doctor` "
                "shows which key is used and where it comes from; fix it and start again."
            )
        if failing:
            return (
                "Cannot load projects. The last error is shown above; retrying on its own "
                "(ctrl+r to retry now)."
            )
        return "Loading projects…"
    if not board.projects:
        return (
            "No projects in this organisation yet. Create one in the Layers "
            "dashboard or with POST /v1/projects, then press ctrl+r."
        )
    if has_rows:
        return ""
    if filter_text or problems_only:
        ways = []
        if filter_text:
            ways.append("press / and esc to clear the filter")
        if problems_only:
            ways.append("press ! to show healthy accounts too")
        where = " (problems only)" if problems_only else ""
        return f"Nothing matches{where}: {' or '.join(ways)}."
    if selected is not None and selected in board.snapshots:
        return "No accounts in this project yet. Press c to connect one."
    return "Loading accounts…"


def next_change(rows: list[AccountRow], now: datetime, thresholds: Thresholds) -> datetime | None:
    """The first moment after `now` when one of `rows` would be judged differently: a
    connected token entering the warning or critical window, or expiring."""
    soonest: datetime | None = None
    for row in rows:
        expires = row.token_expires_at
        if row.kind != "social" or row.status != "connected" or expires is None:
            continue
        for at in (
            expires - timedelta(seconds=thresholds.warn_seconds),
            expires - timedelta(seconds=thresholds.crit_seconds),
            expires,
        ):
            if at > now and (soonest is None or at < soonest):
                soonest = at
                break  # the later moments of this row come after this one
    return soonest


def _same_data(old: ProjectSnapshot, new: ProjectSnapshot) -> bool:
    return (
        old.project == new.project
        and old.social == new.social
        and old.ads == new.ads
        and (old.error is None) == (new.error is None)
    )
