"""The dashboard's panes: the project list's lines, which pane has the keys, whether the
project list shows, how many rows a filter leaves, the line under the table, the table's
empty-state message and the status line (mixed into `DashboardScreen`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from layers_tui.domain.status import AccountRow, Severity, Summary, span
from layers_tui.domain.timeline import row_line
from layers_tui.text import safe

from ..board import empty_message
from ..widgets.accounts_table import AccountsTable, status_labels
from ..widgets.palette import palette_for
from ..widgets.project_list import ProjectList, project_prompt
from ..widgets.status_line import StatusLine, StatusState

if TYPE_CHECKING:
    from ..board import Board
    from ..widgets.palette import Palette

# Codes that mean the key itself is refused: retrying will not help (say where it came from).
KEY_REJECTED = frozenset({"UNAUTHENTICATED", "INVALID_API_KEY", "KILL_SWITCH"})


class SeenSince:
    """When each problem row's problem was first seen, from the store's history: a project's
    history is read (through its index: well under a millisecond) when one of its problem
    rows is first drawn, and again only after its data changed; never per keystroke or per
    frame. Reading every project at once took ~140 ms at 2,000 projects and 70,000 changes,
    most of it for projects never drawn."""

    def __init__(self, read: Callable[[str], dict[tuple[str, str], float]]) -> None:
        self._read = read
        self._projects: dict[str, dict[tuple[str, str], float]] = {}

    def forget(self, project_id: str) -> None:
        """The project's data changed: its history may have too."""
        self._projects.pop(project_id, None)

    def __call__(self, row: AccountRow) -> float | None:
        if row.severity < Severity.WARNING:
            return None  # healthy: no problem to date
        found = self._projects.get(row.project_id)
        if found is None:
            found = self._projects[row.project_id] = self._read(row.project_id)
        return found.get((row.kind, row.key))


class DashboardPanes:
    """`tab` goes between the project list and the table (never into the filter field: `/`
    goes there); `b` hides or shows the project list."""

    board: Board
    _prompts: dict[tuple, Text]
    _prompts_palette: object
    # project id -> (its summary, its rows' status labels): see `status_labels_of`
    _labels: dict[str, tuple[Summary | None, frozenset[str]]]
    # project id -> ((loading, failed), summary, age, name, (order, prompt)) of its last line
    _entries: dict[str, tuple]
    _projects_sized = False  # the project list has been drawn at its laid-out width

    if TYPE_CHECKING:

        def preview_drawn(self) -> None: ...

    def scoped_project_name(self) -> str | None:
        """The project the table is limited to, by name (None: every project)."""
        selected = self.query_one(ProjectList).selected_project
        if selected is None:
            return None
        snapshot = self.board.snapshots.get(selected)
        return snapshot.project.name if snapshot is not None else selected

    def shown_data_ages(self, now: datetime) -> tuple[float, float] | None:
        """How old the data of the projects the table shows is, in seconds: (oldest, newest),
        from each project's last good fetch (a failed refresh keeps the older data on
        screen); None before any of them has data. For the status line: during a long pass
        the projects done are seconds old while the rows of the others are minutes old."""
        selected = self.query_one(ProjectList).selected_project
        snapshots = self.board.snapshots
        if selected is not None:
            shown = [snapshots[selected]] if selected in snapshots else []
        else:
            shown = snapshots.values()
        fetched = [
            snapshot.fetched_at
            for snapshot in shown
            if snapshot.fetched_at is not None  # a first fetch that failed: no data to date
            and (snapshot.error is None or snapshot.social or snapshot.ads)
        ]
        if not fetched:
            return None
        return (now - min(fetched)).total_seconds(), (now - max(fetched)).total_seconds()

    def old_data_after(self) -> float:
        """Seconds after which a project's line shows its data's age: twice the time a
        pass is expected to take, which the request budget stretches past the refresh
        interval for a large organisation (2,000 projects at 120 req/min: ~42 min). At
        twice the interval alone every line of such a list carried its age, which said
        nothing and cut the names."""
        interval = self.app.settings.refresh_interval
        plan = self.app.session.inventory.budget.refresh_plan(len(self.board.projects), interval)
        return 2 * max(interval, plan.interval)

    def error_hint(self) -> str:
        """A rejected key (401) won't heal by retrying: say where the key came from."""
        error = self.error
        if error is None or error.status != 401:
            return ""
        origin = self.app.initial.get("key_origin") or "the configuration"
        return f"key from {origin}: check it with `layers-tui doctor`"

    def action_cycle_focus(self) -> None:
        projects = self.query_one(ProjectList)
        table = self.query_one(AccountsTable)
        if projects.display and not projects.has_focus:
            self.set_focus(projects)
        else:
            self.set_focus(table)

    def action_toggle_sidebar(self) -> None:
        projects = self.query_one(ProjectList)
        projects.display = not projects.display
        if not projects.display and projects.has_focus:
            self.set_focus(self.query_one(AccountsTable))

    def show_row_count(self, shown: int, total: int, active: bool) -> None:
        """ "12 of 340 rows" beside the filter while a filter or problems-only hides some."""
        self.show_row_count_text(f"{shown} of {total} rows" if active else "")

    def show_row_count_text(self, text: str) -> None:
        if text == getattr(self, "_row_count_text", ""):
            return
        self._row_count_text = text
        counter = self.query_one("#row-count", Static)
        counter.update(text, layout=False)  # a fixed width: no new layout per keystroke
        counter.display = bool(text)

    def status_labels_of(self, selected: str | None, now: datetime) -> set[str]:
        """The status labels of every row of `selected` (None: of every listed project), from
        one set per project, made again only when its rows change: the table's status width
        without a pass over 42,000 rows for one project's change. A project's summary is a
        new object whenever its rows are made again: kept here (never the rows) to tell."""
        board = self.board
        if board.previewing:
            return board.preview_labels
        known = self._labels
        ids = [selected] if selected is not None else [project.id for project in board.projects]
        kept: dict[str, tuple[Summary | None, frozenset[str]]] = {}
        labels: set[str] = set()
        for project_id in ids:
            if project_id not in board.snapshots:
                continue
            rows = board.project_rows(project_id, now)
            summary = board.summary(project_id)
            entry = known.get(project_id)
            if entry is None or entry[0] is not summary:
                entry = (summary, frozenset(status_labels(rows)))
            kept[project_id] = entry
            labels |= entry[1]
        self._labels = kept if selected is None else known | kept
        return labels

    def _render_projects(self) -> None:
        """The project list and the totals: only when data changed, never per keystroke. A
        project's line is made again only when its snapshot, counts or age changed."""
        board = self.board
        now = self.app.clock.now()
        board.ensure_rows(now)
        palette = palette_for(self.app)
        old_after = self.old_data_after()
        project_list = self.query_one(ProjectList)
        if not self._projects_sized and project_list.display:
            if not project_list.scrollable_content_region.width:
                # Not laid out yet (the first render, from on_mount): lines made now would be
                # cut to a guessed width and all made again after the first layout (0.8 s
                # of a 2,000-project start). After that layout, at the real width.
                self.call_after_refresh(self._render_projects)
                return
            self._projects_sized = True
        width = project_list.prompt_width(len(board.projects) + 1)  # and All projects
        if board.previewing:
            self._render_preview_projects(palette, width)
            self.preview_drawn()
            return
        if (palette, width) != self._prompts_palette:
            self._prompts, self._prompts_palette = {}, (palette, width)
            self._entries = {}
        known = self._entries
        lines: dict[str, tuple] = {}
        prompts: dict[tuple, Text] = {}  # reused while nothing about a project changed
        entries = []
        snapshots = board.snapshots
        for project in board.projects:
            snapshot = snapshots.get(project.id)
            summary = board.summary(project.id) if snapshot is not None else None
            age = ""
            if snapshot is not None and snapshot.fetched_at is not None:
                seconds = (now - snapshot.fetched_at).total_seconds()
                age = span(seconds) if seconds >= old_after else ""
            # What the line is drawn from; never the snapshot itself, which would keep a
            # replaced snapshot's accounts alive until the next render (a follower's RSS
            # grew by a copy of every account during a quiet pass).
            state = (snapshot is None, snapshot is not None and snapshot.error is not None)
            line = known.get(project.id)
            if (
                line is None
                or line[0] != state
                or line[1] is not summary
                or line[2] != age
                or line[3] != project.name
            ):
                loading, failed = state
                key = (project.name, summary, failed, loading, age)
                prompt = prompts.get(key) or self._prompts.get(key)
                if prompt is None:
                    prompt = project_prompt(
                        project.name, summary, failed, loading, palette, age, width
                    )
                prompts[key] = prompt
                entry = (ProjectList.severity_order(summary, failed), project.id, prompt)
                line = (state, summary, age, project.name, entry)
            lines[project.id] = line
            entries.append(line[4])
        self._entries = lines
        self._prompts = prompts
        entries.sort(key=lambda entry: entry[0])  # stable: API order within a severity
        every = self._all_projects_prompt(palette, width)
        project_list.show_projects([(key, prompt) for _, key, prompt in entries], every)

    def _all_projects_prompt(self, palette: Palette, width: int) -> Text:
        board = self.board
        every = project_prompt(
            "All projects", board.total, False, not board.listed, palette, "", width
        )
        if "…" in every.plain:  # a narrow list: "All pr…" reads worse than "All"
            every = project_prompt("All", board.total, False, not board.listed, palette, "", width)
        return every

    def _render_preview_projects(self, palette: Palette, width: int) -> None:
        """The project list of a preview (`Board.load_preview`), worst first as always, with
        lines for a screenful only: the whole list comes with the whole store, a moment
        later."""
        board = self.board
        failed = board.preview_failed
        order = sorted(
            (ProjectList.severity_order(board.summary(p.id), p.id in failed), n)
            for n, p in enumerate(board.projects)
        )
        entries = []
        for _, n in order[: self.app.size.height]:
            project = board.projects[n]
            summary = board.summary(project.id)
            prompt = project_prompt(
                project.name, summary, project.id in failed, summary is None, palette, "", width
            )
            entries.append((project.id, prompt))
        every = self._all_projects_prompt(palette, width)
        self.query_one(ProjectList).show_projects(entries, every)

    # -- the panes under and above the table ------------------------------------------------
    def _render_empty(self, selected: str | None) -> None:
        message = empty_message(
            self.board,
            bool(self.visible_rows),
            selected,
            self.filter_text,
            self.problems_only,
            self.error is not None,
            self.error is not None and self.error.code in KEY_REJECTED,
        )
        self.query_one(AccountsTable).show_message(safe(message, 300))

    def render_problem(self) -> None:
        row = self.selected_row()
        text = Text()
        if self._filter_error:
            text.append("Filter: ", style="bold")
            typing = self.query_one("#filter").has_focus
            fix = "" if typing else " Press / to fix it."
            text.append(f"{safe(self._filter_error, 200)} (ignored).{fix}")
        elif row is not None:
            since = self.seen_since(row)
            snapshot = self.board.snapshots.get(row.project_id)
            fetched = snapshot.fetched_at if snapshot is not None else None
            text = row_line(row, since, fetched, self.app.clock.now(), self.app.settings.read_only)
        self.query_one("#problem", Static).update(text, layout=False)

    def render_status(self) -> None:
        app = self.app
        board = self.board
        now = app.clock.now()
        app.data_error = self.last_error or self.fetch_error  # for every screen's binding
        whoami = app.whoami
        self.query_one(StatusLine).show(
            StatusState(
                organization=whoami.organization_name if whoami else None,
                profile=app.settings.profile,
                key_env=app.key_env,
                read_only=app.settings.read_only,
                demo=app.settings.demo,
                summary=board.total,
                projects=len(board.projects),
                updated_seconds=(now - self.last_ok_at).total_seconds()
                if self.last_ok_at
                else None,
                refreshing=self.progress.running,
                error=self.error,
                pending=app.pending_count,
                plan_reason=app.session.inventory.plan_reason,
                filter_text=self.filter_text,
                problems_only=self.problems_only,
                sort=self.sort_column,
                sort_reverse=self.sort_reverse,
                failed_projects=board.failed_projects,
                progress=self.progress,
                refreshed_by=app.refreshed_by,
                error_hint=self.error_hint(),
                project=self.scoped_project_name(),
                data_ages=self.shown_data_ages(now),
                loaded=board.listed and (bool(board.snapshots) or not board.projects),
            )
        )
