"""What the dashboard shows, as data: projects, their last snapshots, rows and totals.

No Textual here: the dashboard screen renders a `Board`, the inventory fills it, and tests
can drive it without a terminal.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from layers_tui.api import ApiError
from layers_tui.domain.status import (
    AccountRow,
    Severity,
    Summary,
    Thresholds,
    combine,
    summarize,
)
from layers_tui.inventory import ProjectSnapshot
from layers_tui.models import Project
from layers_tui.session.inventory import StartPreview, bulk_load

if TYPE_CHECKING:
    from layers_tui.session.session import Session


# -- sort orders ---------------------------------------------------------------------------------
# Each key is equivalent to domain.filtering.sort_key for the columns it has (a test holds
# them together), with a first element that rarely ties (one float for severity and expiry),
# so Python's sort compares mostly floats, not tuples.
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC).timestamp()
_SEVERITY_SPAN = 1e12  # wider than any timestamp: severity decides first, then the time


def _stamp(moment: datetime | None) -> float:
    return _FAR_FUTURE if moment is None else moment.timestamp()


# Set on each row with its search text (`Board._prime_search`): `search_fields["name"]`
# (the lower-cased name) and `expires_stamp` (`_stamp` of the token expiry).
def _status_key(row: AccountRow) -> tuple:
    expires = row.expires_stamp  # type: ignore[attr-defined]
    worst_first = (3 - row.severity) * _SEVERITY_SPAN + expires
    return (worst_first, expires, row.project_name.lower(), row.search_fields["name"])


def _expiry_key(row: AccountRow) -> tuple:
    expires = row.expires_stamp  # type: ignore[attr-defined]
    return (expires, -row.severity, row.search_fields["name"])


def _name_key(row: AccountRow) -> tuple:
    return (row.search_fields["name"], row.key)


def _project_key(row: AccountRow) -> tuple:
    return (row.project_name.lower(), -row.severity, row.search_fields["name"])


def _platform_key(row: AccountRow) -> tuple:
    return (row.platform, -row.severity, row.search_fields["name"])


def _checked_key(row: AccountRow) -> tuple:
    """Longest unchecked first; never checked last."""
    return (_stamp(row.checked_at), -row.severity, row.search_fields["name"], row.key)


def _connected_key(row: AccountRow) -> tuple:
    return (_stamp(row.connected_at), row.key)


def _leased_key(row: AccountRow) -> tuple:
    """Leased accounts first, worst first within each group."""
    expires = row.expires_stamp  # type: ignore[attr-defined]
    return (not row.leased, -row.severity, expires, row.search_fields["name"])


SORT_KEYS: dict[str, Callable[[AccountRow], tuple]] = {
    "status": _status_key,
    "name": _name_key,
    "expiry": _expiry_key,
    "project": _project_key,
    "platform": _platform_key,
    "checked": _checked_key,
    "connected": _connected_key,
    "leased": _leased_key,
}
# A crossing merged into a cached order costs a pass over it; past this many changed
# projects one sort is as cheap.
_MERGE_LIMIT = 32
_BULK_PROJECTS = 500  # see `Board.ensure_rows`


def _make_room_for_search_text() -> None:
    """Let rows made from now on keep their search text in their shared-key attribute
    storage. CPython sizes an instance's attribute storage for the attribute names its class
    has seen when the instance is made; a row made before any row had both search
    attributes turns its attributes into a dict of its own (about 700 bytes, 35 MB at
    50,000 rows) when `_prime_search` gives it the second one. One throwaway row shows the
    class both names. Only memory depends on this, never behaviour."""
    row = AccountRow("", "", "", "", "", "", "", "", Severity.OFF, False, None, None, "")
    object.__setattr__(row, "search_fields", {})
    object.__setattr__(row, "search_text", "")
    object.__setattr__(row, "expires_stamp", 0.0)


_make_room_for_search_text()


class _Order:
    """One cached order of every project's rows: made at `seq`, for the project layout
    `layout`."""

    __slots__ = ("layout", "rows", "seq")

    def __init__(self, rows: list[AccountRow], seq: int, layout: int) -> None:
        self.rows = rows
        self.seq = seq
        self.layout = layout


class Board:
    """Rows are computed per project once per data change (and again every recompute, so
    relative times move). Orders of all projects' rows are cached per (column, direction);
    after a data change a cached order takes the changed projects' rows by merging them
    in, not by sorting everything again."""

    # Columns the rows can be ordered by, in the order `s` cycles through them, with the
    # table's labels ("since" comes from the store's history, not the rows: not sortable).
    SORTABLE: tuple[tuple[str, str], ...] = (
        ("status", "Status"),
        ("name", "Account"),
        ("expiry", "Token expiry"),
        ("project", "Project"),
        ("platform", "Platform"),
        ("checked", "Checked"),
        ("connected", "Connected"),
        ("leased", "Leased"),
    )

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
        self._positions: dict[str, int] = {}  # project id -> its place in `projects`
        self._layout = 0  # moves when the projects or their order change: orders re-sort
        self._seq = 0  # moves whenever a project's rows are dropped or computed
        self._changed: dict[str, int] = {}  # project id -> `_seq` of its last row change
        self._orders: dict[tuple[str, bool], _Order] = {}  # all made at the same `_seq`
        self._orders_seq = 0  # ... this one
        # Rows the cached orders hold that are gone from `_rows` since: found by their place
        # in the order (key, project, row position) when a merge takes them out.
        self._replaced: dict[str, list[AccountRow]] = {}
        self._project_order: tuple[tuple, list[AccountRow]] | None = None
        self._search_parts: dict[tuple[str, str] | str, str] = {}
        # While only a preview of a large store is shown (`load_preview`): how many accounts
        # the store has, and each project's counts as the store saved them.
        self.previewing = 0
        self._preview: dict[str, Summary] = {}
        self._preview_total = Summary()
        self.preview_failed: set[str] = set()
        self.preview_labels: set[str] = set()

    # -- changes ---------------------------------------------------------------------------
    def set_projects(self, projects: list[Project]) -> None:
        self.projects = list(projects)
        self.listed = True
        self._version += 1
        positions = {project.id: n for n, project in enumerate(self.projects)}
        if positions != self._positions:
            self._positions = positions
            self._layout += 1
        for gone in set(self.snapshots) - set(positions):
            del self.snapshots[gone]
            self._drop_rows(gone)
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
            snapshot = replace(previous, error=snapshot.error)
        if previous is not None and _same_data(previous, snapshot):
            # The same accounts: the board keeps the models its rows were made from (and
            # the new, equal ones go with the message), so a quiet pass frees no accounts;
            # only when and how the project was read moves.
            if (
                snapshot.fetched_at != previous.fetched_at
                or snapshot.error is not previous.error
                or snapshot.invalid != previous.invalid
            ):
                self.snapshots[project_id] = replace(
                    previous,
                    fetched_at=snapshot.fetched_at,
                    error=snapshot.error,
                    invalid=snapshot.invalid,
                )
            if snapshot.fetched_at != previous.fetched_at:
                self._move_check_time(project_id, snapshot.fetched_at)
            return False
        self.snapshots[project_id] = snapshot
        self._drop_rows(project_id)
        self._version += 1
        return True

    def _move_check_time(self, project_id: str, fetched_at: datetime | None) -> None:
        """A quiet refresh moves only when the project's social tokens were last seen: set
        on its rows in place (rebuilding them is what a quiet refresh must not cost; rows
        are otherwise never changed), and the orders by that time made again when asked."""
        for row in self._rows.get(project_id, ()):
            if row.kind == "social":
                object.__setattr__(row, "checked_at", fetched_at)
        self._orders.pop(("checked", False), None)
        self._orders.pop(("checked", True), None)
        self._project_order = None

    def recompute(self, now: datetime) -> bool:
        """Move the rows to `now`: only projects with a token that crossed a threshold (or
        expired) since their rows were computed are computed again; every other row reads
        the same at any time (relative times are drawn from `rows_at`). True when a row's
        severity or text may have changed."""
        due = [pid for pid, at in self._changes_at.items() if at is not None and at <= now]
        for project_id in due:
            self._drop_rows(project_id)
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

    def load_preview(self, preview: StartPreview, now: datetime) -> None:
        """A first screen of a large store: every project with the counts its accounts were
        saved with, and rows of the worst accounts only (`Inventory.load_preview`). Made
        whole by a new board's `load_from`; until then `previewing` is the store's account
        count."""
        self.set_projects(preview.projects)
        for snapshot in preview.snapshots:
            self.put(snapshot)
        counts = preview.counts
        self._preview = {
            project_id: Summary(
                critical=counts.get(project_id, {}).get(Severity.CRITICAL, 0),
                warning=counts.get(project_id, {}).get(Severity.WARNING, 0),
                ok=counts.get(project_id, {}).get(Severity.OK, 0),
                off=counts.get(project_id, {}).get(Severity.OFF, 0),
            )
            for project_id in preview.loaded
        }
        self._preview_total = combine(self._preview.values())
        self.preview_failed = preview.failed
        # The whole table's status labels, so its status column has its final width now.
        self.preview_labels = {
            row.status_label
            for snapshot in (*preview.samples, *preview.snapshots)
            for row in snapshot.rows(now, self.thresholds)
        }
        self.previewing = max(1, preview.accounts)

    def _drop_rows(self, project_id: str) -> None:
        rows = self._rows.pop(project_id, None)
        if rows is not None:
            if self._changed.get(project_id, 0) <= self._orders_seq:  # in the cached orders
                self._replaced.setdefault(project_id, rows)
            self._note_change(project_id)
        self._summaries.pop(project_id, None)
        self._total = None

    def _note_change(self, project_id: str) -> None:
        self._seq += 1
        self._changed[project_id] = self._seq

    # -- reading ---------------------------------------------------------------------------
    def ensure_rows(self, now: datetime) -> None:
        if not self._rows:
            self.rows_at = now
        missing = [project_id for project_id in self.snapshots if project_id not in self._rows]
        # Many rows at once (a start, a full rebuild) live until the next change: made
        # without the cyclic collector walking them meanwhile or in later full passes.
        bulk = len(missing) >= _BULK_PROJECTS
        with bulk_load() if bulk else contextlib.nullcontext():
            for project_id in missing:
                self.project_rows(project_id, now)

    def project_rows(self, project_id: str, now: datetime) -> list[AccountRow]:
        rows = self._rows.get(project_id)
        if rows is None:
            if not self._rows:
                self.rows_at = now
            rows = self._rows[project_id] = self.snapshots[project_id].rows(now, self.thresholds)
            self._prime_search(rows)
            self._summaries[project_id] = summarize(rows)
            self._total = None
            self._changes_at[project_id] = next_change(rows, now, self.thresholds)
            self._note_change(project_id)
        return rows

    def _prime_search(self, rows: list[AccountRow]) -> None:
        """Fill each row's search text now, from pieces shared between rows (a status, a
        platform, a project), so the first filter keystroke does not build 50,000 of them.
        What `AccountRow.search_fields` computes (a test holds the two together)."""
        shared = self._search_parts  # status and platform pieces: a handful in all
        projects: dict[tuple[str, str], str] = {}  # one project per call, as a rule
        store = object.__setattr__
        for row in rows:
            status = shared.get((row.status, row.status_label))
            if status is None:
                status = f"{row.status}\n{row.status_label}".lower()
                shared[row.status, row.status_label] = status
            platform = shared.get(row.platform)
            if platform is None:
                platform = shared[row.platform] = f"{row.platform}\n{row.platform_label}".lower()
            project = projects.get((row.project_name, row.project_id))
            if project is None:
                project = f"{row.project_name}\n{row.project_id}".lower()
                projects[row.project_name, row.project_id] = project
            name, ident = row.name.lower(), row.key.lower()
            # Set as cached_property would, but as attributes: writing to `row.__dict__`
            # would turn each row's key-sharing attribute dict into a dict of its own (about
            # 1 KB a row, 50 MB at 50,000 rows).
            store(
                row,
                "search_fields",
                {
                    "status": status,
                    "platform": platform,
                    "project": project,
                    "kind": row.kind,
                    "name": name,
                    "id": ident,
                },
            )
            store(
                row, "search_text", f"{status}\n{platform}\n{project}\n{row.kind}\n{name}\n{ident}"
            )
            store(row, "expires_stamp", _stamp(row.token_expires_at))
        if len(shared) > 256:
            self._search_parts = {}  # unknown statuses or platforms by the hundred

    def summary(self, project_id: str) -> Summary | None:
        if self.previewing:
            return self._preview.get(project_id)
        return self._summaries.get(project_id)

    @property
    def total(self) -> Summary:
        if self.previewing:
            return self._preview_total
        if self._total is None:
            self._total = combine(self._summaries.values())
        return self._total

    def sorted_rows(self, selected: str | None, column: str, reverse: bool) -> list[AccountRow]:
        """The rows of `selected` (None: of every project, in the order of `projects`)
        ordered by `column` (one of `SORTABLE`), worst first among equals where it applies;
        `reverse` flips the order and keeps rows with equal keys in their order (as
        `sorted(..., reverse=True)` does). Computed rows only (see `ensure_rows`)."""
        key = SORT_KEYS.get(column)
        if key is None:
            raise ValueError(f"cannot sort by {column!r}; the columns are {', '.join(SORT_KEYS)}")
        if selected is not None:
            rows = self._rows.get(selected, [])
            cache_key = (selected, column, reverse, self._changed.get(selected))
            if self._project_order is None or self._project_order[0] != cache_key:
                self._project_order = (cache_key, sorted(rows, key=key, reverse=reverse))
            return self._project_order[1]
        order = self._orders.get((column, reverse))
        if order is not None and order.seq == self._seq and order.layout == self._layout:
            return order.rows
        changed = (
            None
            if order is None or order.layout != self._layout
            else [pid for pid, seq in self._changed.items() if seq > order.seq]
        )
        if changed is None or len(changed) > _MERGE_LIMIT:
            rows = self._full_sort(key, reverse)
        else:
            rows = self._merged(order.rows, changed, key, reverse)
        if self._orders_seq != self._seq:
            # The other orders would each need a merge: made again when asked for.
            self._orders = {}
            self._orders_seq = self._seq
            self._replaced = {}
        self._orders[column, reverse] = _Order(rows, self._seq, self._layout)
        return rows

    def _merged(
        self,
        ordered: list[AccountRow],
        changed: list[str],
        key: Callable[[AccountRow], tuple],
        reverse: bool,
    ) -> list[AccountRow]:
        """`ordered` with the rows of `changed` projects replaced by their current rows, each
        taken out and put in by binary search on its rank (key, project position, row
        position), the order of a full stable sort."""
        rows = list(ordered)
        positions = self._positions
        replaced = {pid: self._replaced[pid] for pid in changed if pid in self._replaced}

        def rank(row: AccountRow, own: list[AccountRow]) -> tuple[tuple, int, int]:
            index = next(n for n, candidate in enumerate(own) if candidate is row)
            return key(row), positions[row.project_id], index

        def place(target: tuple[tuple, int, int], lists: dict[str, list[AccountRow]]) -> int:
            """The first index whose row comes after a row ranked `target`."""
            low, high = 0, len(rows)
            while low < high:
                middle = (low + high) // 2
                row = rows[middle]
                if _before(
                    target,
                    rank(row, lists.get(row.project_id) or self._rows[row.project_id]),
                    reverse,
                ):
                    high = middle
                else:
                    low = middle + 1
            return low

        for project_id, old in replaced.items():
            if project_id not in positions:
                continue  # listed after the order was made: never in it
            for index, row in enumerate(old):
                at = place((key(row), positions[project_id], index), replaced) - 1
                if at < 0 or rows[at] is not row:
                    return self._full_sort(key, reverse)  # never expected: be right anyway
                del rows[at]
        for project_id in changed:
            if project_id not in positions or project_id not in self._rows:
                continue
            for index, row in enumerate(self._rows[project_id]):
                rows.insert(place((key(row), positions[project_id], index), {}), row)
        return rows

    def _full_sort(self, key: Callable[[AccountRow], tuple], reverse: bool) -> list[AccountRow]:
        rows = [
            row
            for project in self.projects
            if project.id in self._rows
            for row in self._rows[project.id]
        ]
        # 50,000 key tuples, gone when the sort ends and in no cycle: no collector passes
        # meanwhile (each would walk every live object).
        enabled = gc.isenabled()
        gc.disable()
        try:
            rows.sort(key=key, reverse=reverse)
        finally:
            if enabled:
                gc.enable()
        return rows

    def project(self, project_id: str) -> Project | None:
        return next((p for p in self.projects if p.id == project_id), None)

    def timezones(self) -> dict[str, str]:
        return {project.id: project.timezone for project in self.projects}

    @property
    def failed_projects(self) -> int:
        if self.previewing:
            return len(self.preview_failed)
        if self._failed[0] != self._version:
            failed = sum(1 for snapshot in self.snapshots.values() if snapshot.error is not None)
            self._failed = (self._version, failed)
        return self._failed[1]

    def first_error(self) -> ApiError | None:
        return next((s.error for s in self.snapshots.values() if s.error is not None), None)

    def newest_data(self) -> datetime | None:
        times = [s.fetched_at for s in self.snapshots.values() if s.fetched_at is not None]
        return max(times, default=None)


def _before(new: tuple[tuple, int, int], old: tuple[tuple, int, int], reverse: bool) -> bool:
    """Whether a row ranked `new` comes before one ranked `old` (rank: key, project
    position, row position): by key (descending when `reverse`), then by position."""
    if new[0] == old[0]:
        return new[1:] < old[1:]
    return new[0] > old[0] if reverse else new[0] < old[0]


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
    if old.project != new.project or (old.error is None) != (new.error is None):
        return False
    if old.documents_hash is not None and old.documents_hash == new.documents_hash:
        return True  # the same documents: the same accounts, without comparing 20 models
    return old.social == new.social and old.ads == new.ads
