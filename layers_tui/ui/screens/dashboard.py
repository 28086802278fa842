"""The dashboard: projects on the left, their accounts on the right, refreshed in the background."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Input, OptionList, Static

from layers_tui.api import ApiError, format_error
from layers_tui.domain.failures import hint_for
from layers_tui.domain.filtering import filter_rows, parse_filter
from layers_tui.domain.status import AccountRow, Summary, Thresholds
from layers_tui.session.inventory import Progress

from ..board import Board
from ..messages import (
    AccountRevoked,
    ActionFailed,
    FlowsHalted,
    ProjectsListed,
    ProjectsLoaded,
    RefreshFinished,
    RefreshProgress,
)
from ..widgets.accounts_table import AccountsTable
from ..widgets.footer import KeyBar
from ..widgets.palette import palette_for
from ..widgets.project_list import ProjectList
from ..widgets.status_line import StatusLine
from .base import ReportsWorkerErrors
from .dashboard_actions import DashboardActions
from .dashboard_panes import DashboardPanes, SeenSince
from .dashboard_start import DashboardStart

ROW_RECOMPUTE_SECONDS = 30.0
RENDER_COALESCE_SECONDS = 0.5


class DashboardScreen(
    DashboardStart, DashboardActions, DashboardPanes, ReportsWorkerErrors, Screen
):
    AUTO_FOCUS = "#accounts"  # straight to the table: no focus change (and repaint) after mount
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide"), (160, "-wider")]
    BINDINGS = [
        # First, so a narrow key bar still shows where the other keys are explained.
        Binding("question_mark", "help", "Help"),
        # priority: handled when the key arrives, so the keys typed right after it already
        # go to the filter field (a normal binding runs only after they were dispatched).
        Binding("slash", "filter", "Filter", priority=True),
        Binding("exclamation_mark", "problems", "Problems"),
        Binding("s", "cycle_sort", "Sort"),
        Binding("S", "flip_sort", "Reverse", show=False),
        Binding("c", "connect", "Connect"),
        Binding("r", "reauth", "Reauth"),
        Binding("R", "bulk_reauth", "Reauth all"),
        Binding("d", "revoke", "Revoke"),
        Binding("p", "pending", "Pending"),
        Binding("y", "copy_id", "Copy ID"),
        Binding("e", "export", "Export", show=False),
        Binding("ctrl+r", "refresh", "Refresh"),
        Binding("J", "app.journal", "Journal", show=False),
        Binding("b", "toggle_sidebar", "Hide/show projects", show=False),
        # Between the project list and the table only (`/` is the way into the filter).
        Binding("tab,shift+tab", "cycle_focus", "Projects ↔ table", show=False),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, initial_filter: str = "", problems_only: bool = False) -> None:
        super().__init__()
        self.filter_text = initial_filter
        self.problems_only = problems_only
        self.sort_column = "status"
        self.sort_reverse = False
        self.board = Board(Thresholds())
        self.visible_rows: list[AccountRow] = []
        self.last_ok_at: datetime | None = None
        self.last_error: ApiError | None = None
        self.fetch_error: ApiError | None = None  # the latest project fetch's, during a pass
        self.progress = Progress()
        self._focus_timer = None
        self._render_pending = False
        self._filter_error: str | None = None
        self._prompts: dict[tuple, Text] = {}
        self.seen_since = SeenSince(self._read_since)
        self._prompts_palette: object = None
        self._labels: dict[str, tuple[Summary | None, frozenset[str]]] = {}
        self._entries: dict[str, tuple] = {}

    # -- layout --------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusLine(id="status-line")
        with Horizontal(id="filter-bar"):
            yield Input(
                value=self.filter_text,
                placeholder='/ filter: text status:reauth platform:tiktok* !not /regex/ "a b"',
                id="filter",
                select_on_focus=False,
            )
            yield Static(id="row-count", markup=False)
        with Horizontal(id="body"):
            yield ProjectList(id="projects")
            with Vertical(id="accounts-pane"):
                yield AccountsTable(id="accounts")
                yield Static(id="problem")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#projects", ProjectList).border_title = "Projects"
        self.board.thresholds = self.thresholds
        if not self._load_preview():
            self._load_from_store()
        for name in ("whoami", "identity_error", "pending_count", "refreshed_by"):
            self.watch(self.app, name, self._app_state_changed, init=False)
        self.set_interval(1.0, self.tick)
        self.render_all()

    def on_resize(self) -> None:
        # The project list's width follows the terminal's: names are cut to fit their counts.
        self.call_after_refresh(self._render_projects)

    def on_project_list_resized(self) -> None:
        self.call_after_refresh(self._render_projects)

    @property
    def thresholds(self) -> Thresholds:
        settings = self.app.settings
        return Thresholds(settings.expiry_warn_days * 86_400, settings.expiry_crit_hours * 3600)

    @property
    def error(self) -> ApiError | None:
        """What the status line warns about: the API's last word, or who we are not."""
        return self.last_error or self.fetch_error or self.app.identity_error

    # -- what the app tells us -------------------------------------------------------------------
    def _app_state_changed(self) -> None:
        self.render_status()

    def on_projects_listed(self, message: ProjectsListed) -> None:
        self.board.set_projects(message.projects)
        self.schedule_render()

    def on_projects_loaded(self, message: ProjectsLoaded) -> None:
        changed: set[str] = set()
        newest = self.last_ok_at
        fetch_error = self.fetch_error
        for snapshot in message.batch.take():
            if self.board.put(snapshot):
                changed.add(snapshot.project.id)
            fetched = snapshot.fetched_at
            if fetched is not None and (newest is None or fetched > newest):
                newest = fetched
            fetch_error = snapshot.error  # the latest word: a success clears the warning
        self.last_ok_at = newest
        last_error = self.last_error
        if last_error is not None and self.app.refreshed_by is not None:
            # Following another process: what its data says replaces what a pass of ours
            # found before it took over (an outage we saw, over long since).
            last_error = self.board.first_error()
        if fetch_error is not self.fetch_error or last_error is not self.last_error:
            # Said while a pass runs (minutes at a large organisation), not at its end only.
            self.fetch_error, self.last_error = fetch_error, last_error
            self.render_status()
        if changed:
            for project_id in changed:
                self.seen_since.forget(project_id)
            self.schedule_render()
            self.update_open_details(changed)

    def update_open_details(self, project_ids: set[str]) -> None:
        """An open details screen of one of these projects' accounts shows its new data."""
        from .detail import DetailScreen

        for screen in self.app.screen_stack:
            if isinstance(screen, DetailScreen) and screen.row.project_id in project_ids:
                project_id = screen.row.project_id
                rows = self.board.project_rows(project_id, self.app.clock.now())
                row = next((r for r in rows if r.key == screen.row.key), None)
                if row is not None:
                    screen.follow(row, self.board.snapshots.get(project_id))

    def on_refresh_progress(self, message: RefreshProgress) -> None:
        message.taken = True
        self.progress = message.progress
        self.render_status()

    def on_refresh_finished(self, message: RefreshFinished) -> None:
        if self.board.previewing:  # judged against the whole board, once it is read
            self._held_finish = message
            return
        result = message.result
        if result.listing_error is not None:
            self.last_error = result.listing_error
        elif message.full:
            self.last_ok_at = self.app.clock.now()
            self.last_error = self.board.first_error()
            self.fetch_error = None  # what the pass left is `last_error` now
        elif self.last_error is not None and self.last_error is not self.board.first_error():
            self.last_error = self.board.first_error()
        # New data arrived as ProjectsLoaded (and is rendered from there): here only the
        # stale mark, the empty-state text and the status line can change.
        self._render_table()

    def on_flows_halted(self, message: FlowsHalted) -> None:
        self.last_error = message.error
        self.render_status()

    def on_account_revoked(self, message: AccountRevoked) -> None:
        posts = message.result.canceled_scheduled_posts
        self.app.notify(
            f"Revoked {message.label}: {posts} queued post{'' if posts == 1 else 's'} cancelled.",
            title="Revoked",
            markup=False,
        )
        self.app.refresh_pass([message.project_id])

    def on_action_failed(self, message: ActionFailed) -> None:
        hint = hint_for(message.error.code, message.error.details)
        self.app.notify(
            f"{format_error(message.error)}\n{hint}".strip(),
            title=f"{message.what} failed",
            severity="error",
            markup=False,
            timeout=10,
        )

    # -- rendering -------------------------------------------------------------------------------
    def tick(self) -> None:
        now = self.app.clock.now()
        rows_at = self.board.rows_at
        if rows_at is None or (now - rows_at).total_seconds() >= ROW_RECOMPUTE_SECONDS:
            if self.board.recompute(now):
                self.render_all()
            else:
                self._render_table()  # relative times move; nothing else does
        else:
            self.render_status()

    def schedule_render(self) -> None:
        """Coalesce a burst of loaded projects into one render per frame."""
        if not self._render_pending:
            self._render_pending = True
            # At most one render per 500 ms while projects stream in: each costs a layout
            # and a frame of the project list and table while the data keeps coming (on a
            # local sandbox, rendering every 100 ms made the first load 60 % slower).
            self.set_timer(RENDER_COALESCE_SECONDS, self._flush_render)

    def _flush_render(self) -> None:
        if self._render_pending:
            self._render_pending = False
            self.render_all()

    def flush_render(self) -> None:
        """Render now what `schedule_render` would render shortly (tests: no timing)."""
        self._flush_render()

    def render_all(self) -> None:
        self._render_projects()
        self._render_table()

    def _render_table(self) -> None:
        """Filter and sort the selected project's rows (or all) into the table."""
        board = self.board
        now = self.app.clock.now()
        selected = self.query_one(ProjectList).selected_project
        spec = parse_filter(self.filter_text, self.problems_only)
        board.ensure_rows(now)
        # Sorted once per data or order change; a filter keystroke only filters.
        rows = board.sorted_rows(selected, self.sort_column, self.sort_reverse)
        self.visible_rows = filter_rows(rows, spec)
        if board.previewing:
            self.show_row_count_text(f"loading {board.previewing:,} rows…")
        else:
            self.show_row_count(len(self.visible_rows), len(rows), spec.active)
        table = self.query_one(AccountsTable)
        # Relative times are as of when the rows were computed (every 30 s), so a quiet
        # refresh repaints nothing.
        table.show_rows(
            self.visible_rows,
            board.rows_at or now,
            palette_for(self.app),
            self.thresholds.warn_seconds,
            self.seen_since,
            # Unfiltered: the labels of the projects shown, kept per project.
            None if spec.active else lambda: self.status_labels_of(selected, now),
        )
        table.show_sort(self.sort_column, self.sort_reverse)
        table.set_class(self.error is not None, "-stale")
        self._filter_error = spec.error
        self._render_empty(selected)
        self.render_problem()
        self.render_status()

    def _read_since(self, project_id: str) -> dict[tuple[str, str], float]:
        try:
            return self.app.session.store.severity_since(project_id)
        except Exception:  # history is a nicety; the store's trouble is told elsewhere
            return {}

    def selected_row(self) -> AccountRow | None:
        table = self.query_one(AccountsTable)
        if 0 <= table.cursor_row < len(table.rows):
            return table.rows[table.cursor_row]
        return None

    # -- events ----------------------------------------------------------------------------------
    @on(OptionList.OptionHighlighted, "#projects")
    def project_changed(self) -> None:
        # The project on screen is refreshed before the others (in a pass, and out of turn).
        self.app.session.inventory.focus_project = self.query_one(ProjectList).selected_project
        self.schedule_focus_refresh()
        self._render_table()

    @on(AccountsTable.RowHighlighted, "#accounts")
    def row_changed(self) -> None:
        self.render_problem()

    @on(events.DescendantFocus)
    @on(events.DescendantBlur)
    def focus_moved(self) -> None:
        if self._filter_error:  # "Press / to fix it" only outside the filter
            self.render_problem()

    @on(AccountsTable.RowSelected, "#accounts")
    def row_chosen(self) -> None:
        self.action_details()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self._render_table()

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        self.query_one(AccountsTable).focus()

    def key_escape(self) -> None:
        field = self.query_one("#filter", Input)
        if field.has_focus or field.value:
            field.value = ""
            self.query_one(AccountsTable).focus()
