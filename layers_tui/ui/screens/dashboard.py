"""The dashboard: projects on the left, their accounts on the right, refreshed in the background."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, OptionList, Static

from layers_tui.api import ApiError, format_error
from layers_tui.api.paging import fan_out
from layers_tui.domain.export import to_csv, to_json
from layers_tui.domain.failures import hint_for
from layers_tui.domain.filtering import SORT_KEYS, filter_rows, parse_filter, sort_rows
from layers_tui.domain.status import AccountRow, Summary, Thresholds, combine, summarize
from layers_tui.inventory import ProjectSnapshot, load_project, load_projects
from layers_tui.models import Project
from layers_tui.text import safe

from ..messages import (
    AccountRevoked,
    ActionFailed,
    FlowChanged,
    FlowsHalted,
    Identified,
    IdentifyFailed,
    ProjectLoaded,
    ProjectsListed,
    RefreshFailed,
    RefreshFinished,
)
from ..widgets.accounts_table import AccountsTable
from ..widgets.footer import KeyBar
from ..widgets.palette import palette_for
from ..widgets.project_list import ProjectList, project_prompt
from ..widgets.status_line import StatusLine, StatusState
from .base import ReportsWorkerErrors

ROW_RECOMPUTE_SECONDS = 30.0
RENDER_COALESCE_SECONDS = 0.5


class DashboardScreen(ReportsWorkerErrors, Screen):
    AUTO_FOCUS = "#accounts"  # straight to the table: no focus change (and repaint) after mount
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
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
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, initial_filter: str = "", problems_only: bool = False) -> None:
        super().__init__()
        self.filter_text = initial_filter
        self.problems_only = problems_only
        self.sort_column = "status"
        self.sort_reverse = False
        self.projects: list[Project] = []
        self.snapshots: dict[str, ProjectSnapshot] = {}
        self._rows: dict[str, list[AccountRow]] = {}
        self._summaries: dict[str, Summary] = {}
        self._all_summary = Summary()
        self._render_pending = False
        self._rows_version = 0
        self._sorted: list[AccountRow] = []
        self._sorted_key: tuple | None = None
        self._rows_at: datetime | None = None
        self._filter_error: str | None = None
        self.visible_rows: list[AccountRow] = []
        self.last_ok_at: datetime | None = None
        self.last_error: ApiError | None = None
        self.listed = False
        self._refreshing = False
        self._next_refresh: Timer | None = None
        self.plan_reason = ""

    # -- layout --------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusLine(id="status-line")
        yield Input(
            value=self.filter_text,
            placeholder="/ filter: text, status:reauth, platform:tiktok, !inverse, /regex/",
            id="filter",
            select_on_focus=False,
        )
        with Horizontal(id="body"):
            yield ProjectList(id="projects")
            with Vertical(id="accounts-pane"):
                yield AccountsTable(id="accounts")
                yield Static(id="problem")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#projects", ProjectList).border_title = "Projects"
        self.set_interval(1.0, self.tick)
        self.render_all()
        self.refresh_inventory()

    @property
    def thresholds(self) -> Thresholds:
        settings = self.app.settings
        return Thresholds(settings.expiry_warn_days * 86_400, settings.expiry_crit_hours * 3600)

    # -- data ------------------------------------------------------------------------------------
    @work(group="refresh", exit_on_error=False)
    async def refresh_inventory(self, only_project: str | None = None) -> None:
        """Refresh the project list and every project's accounts (or one project)."""
        if self._refreshing and only_project is None:
            return  # a cycle is still running: skip, never overlap
        app = self.app
        self._refreshing = only_project is None
        try:
            if only_project is None:
                await app.budget.acquire("visible")
                projects = await load_projects(app.client)
                self.post_message(ProjectsListed(projects))
            else:
                projects = [p for p in self.projects if p.id == only_project]
            selected = self.query_one(ProjectList).selected_project
            ordered = sorted(projects, key=lambda p: p.id != selected)

            async def fetch(project: Project) -> ProjectSnapshot:
                priority = "visible" if project.id in (selected, only_project) else "background"
                await app.budget.acquire(priority, cost=2)
                return await load_project(app.client, project, app.clock.now())

            failed = 0
            async for project, result in fan_out(ordered, fetch, app.settings.concurrency):
                if isinstance(result, ApiError):
                    failed += 1
                    result = ProjectSnapshot(project, error=result, fetched_at=app.clock.now())
                elif isinstance(result, BaseException):
                    raise result
                self.post_message(ProjectLoaded(result))
            if only_project is None:
                self.post_message(RefreshFinished(failed))
        except ApiError as error:
            self.post_message(RefreshFailed(error))
        finally:
            if only_project is None:
                self._refreshing = False
                self._schedule_next()

    def _schedule_next(self) -> None:
        plan = self.app.budget.refresh_plan(len(self.projects), self.app.settings.refresh_interval)
        self.plan_reason = plan.reason
        if self._next_refresh is not None:
            self._next_refresh.stop()
        self._next_refresh = self.set_timer(plan.interval, self.refresh_inventory)

    def on_projects_listed(self, message: ProjectsListed) -> None:
        self.projects = message.projects
        self._rows_version += 1
        self.listed = True
        known = {p.id for p in self.projects}
        for gone in set(self.snapshots) - known:
            del self.snapshots[gone]
            self._rows.pop(gone, None)
            self._summaries.pop(gone, None)
        self.schedule_render()

    def on_project_loaded(self, message: ProjectLoaded) -> None:
        snapshot = message.snapshot
        previous = self.snapshots.get(snapshot.project.id)
        if snapshot.error is not None and previous is not None:
            # Keep the last good data on screen, marked with the error.
            snapshot = ProjectSnapshot(
                previous.project,
                previous.social,
                previous.ads,
                previous.invalid,
                snapshot.error,
                previous.fetched_at,
            )
        if previous is not None and _same_data(previous, snapshot):
            self.snapshots[snapshot.project.id] = snapshot
            return  # nothing changed: no visible work at all
        self.snapshots[snapshot.project.id] = snapshot
        self._rows.pop(snapshot.project.id, None)
        self._summaries.pop(snapshot.project.id, None)
        self.schedule_render()

    def on_refresh_finished(self, message: RefreshFinished) -> None:
        self.last_ok_at = self.app.clock.now()
        if not message.failed_projects:
            self.last_error = None
        else:
            self.last_error = next(s.error for s in self.snapshots.values() if s.error)
        self.render_all()

    def on_refresh_failed(self, message: RefreshFailed) -> None:
        self.last_error = message.error
        self.listed = self.listed or bool(self.snapshots)
        self.render_all()

    def on_identified(self, message: Identified) -> None:
        self.render_status()

    def on_identify_failed(self, message: IdentifyFailed) -> None:
        self.last_error = message.error
        self.render_status()

    def on_flows_halted(self, message: FlowsHalted) -> None:
        self.last_error = message.error
        self.render_status()

    def on_flow_changed(self, message: FlowChanged) -> None:
        flow = message.flow
        if flow.status == "completed":
            self.refresh_inventory(flow.project_id)
        self.render_status()

    def on_account_revoked(self, message: AccountRevoked) -> None:
        posts = message.result.canceled_scheduled_posts
        self.app.notify(
            f"Revoked {message.label}: {posts} queued post{'' if posts == 1 else 's'} cancelled.",
            title="Revoked",
            markup=False,
        )
        self.refresh_inventory(message.project_id)

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
        if self._rows_at is None or (now - self._rows_at).total_seconds() >= ROW_RECOMPUTE_SECONDS:
            self._rows.clear()
            self._summaries.clear()
            self.render_all()
        else:
            self.render_status()

    def _project_rows(self, project_id: str, now: datetime) -> list[AccountRow]:
        rows = self._rows.get(project_id)
        if rows is None:
            snapshot = self.snapshots[project_id]
            rows = self._rows[project_id] = snapshot.rows(now, self.thresholds)
            self._summaries[project_id] = summarize(rows)
            self._rows_version += 1
        return rows

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

    def _render_projects(self) -> None:
        """The project list and the totals: only when data changed, never per keystroke."""
        now = self.app.clock.now()
        if not self._rows:
            self._rows_at = now
        palette = palette_for(self.app)
        entries = []
        for project in self.projects:
            snapshot = self.snapshots.get(project.id)
            summary = None
            if snapshot is not None:
                self._project_rows(project.id, now)
                summary = self._summaries[project.id]
            failed = bool(snapshot and snapshot.error)
            prompt = project_prompt(project.name, summary, failed, snapshot is None, palette)
            entries.append((ProjectList.severity_order(summary, failed), project.id, prompt))
        entries.sort(key=lambda entry: entry[0])  # stable: API order within a severity
        self._all_summary = combine(self._summaries.values())
        self.query_one(ProjectList).show_projects(
            [(key, prompt) for _, key, prompt in entries],
            project_prompt("All projects", self._all_summary, False, False, palette),
        )

    def _render_table(self) -> None:
        """Filter and sort the selected project's rows (or all) into the table."""
        now = self.app.clock.now()
        selected = self.query_one(ProjectList).selected_project
        spec = parse_filter(self.filter_text, self.problems_only)
        order_key = (selected, self.sort_column, self.sort_reverse, self._rows_version)
        if order_key != self._sorted_key:
            # Sorted once per data or order change; a filter keystroke only filters.
            if selected is None:
                rows = [
                    row
                    for project in self.projects
                    if project.id in self._rows
                    for row in self._rows[project.id]
                ]
            else:
                rows = list(self._rows.get(selected, ()))
            self._sorted = sort_rows(rows, self.sort_column, self.sort_reverse)
            self._sorted_key = order_key
        self.visible_rows = filter_rows(self._sorted, spec)
        table = self.query_one(AccountsTable)
        # Relative times are as of when the rows were computed (every 30 s), so a quiet
        # refresh repaints nothing.
        table.show_rows(
            self.visible_rows,
            self._rows_at or now,
            palette_for(self.app),
            self.thresholds.warn_seconds,
        )
        table.set_class(self.last_error is not None, "-stale")
        self._filter_error = spec.error
        self._render_empty(selected)
        self.render_problem()
        self.render_status()

    def _render_empty(self, selected: str | None) -> None:
        message = ""
        if not self.listed:
            message = (
                "Loading projects…"
                if self.last_error is None
                else (
                    "Cannot load projects. The last error is shown above; retrying on its own "
                    "(ctrl+r to retry now)."
                )
            )
        elif not self.projects:
            message = (
                "No projects in this organisation yet. Create one in the Layers "
                "dashboard or with POST /v1/projects, then press ctrl+r."
            )
        elif not self.visible_rows:
            if self.filter_text or self.problems_only:
                message = (
                    "Nothing matches the filter"
                    + (" (problems only)" if self.problems_only else "")
                    + ". Press / and esc to clear it, or ! to show everything."
                )
            elif selected is not None and selected in self.snapshots:
                message = "No accounts in this project yet. Press c to connect one."
            else:
                message = "Loading accounts…"
        self.query_one(AccountsTable).show_message(safe(message, 300))

    def render_problem(self) -> None:
        problem = self.query_one("#problem", Static)
        row = self.selected_row()
        text = Text()
        if self._filter_error:
            text.append("Filter: ", style="bold")
            text.append(f"{safe(self._filter_error, 200)} (ignored). Press / to fix it.")
        elif row is not None:
            text.append(f"{safe(row.name, 40)} · {row.platform_label} · ", style="bold")
            text.append(row.problem or "Healthy.")
        problem.update(text, layout=False)

    def render_status(self) -> None:
        app = self.app
        now = app.clock.now()
        self.query_one(StatusLine).show(
            StatusState(
                organization=app.whoami.organization_name if app.whoami else None,
                profile=app.settings.profile,
                key_env=app.key_env,
                read_only=app.settings.read_only,
                demo=app.settings.demo,
                summary=self._all_summary,
                projects=len(self.projects),
                updated_seconds=(now - self.last_ok_at).total_seconds()
                if self.last_ok_at
                else None,
                refreshing=self._refreshing,
                error=self.last_error,
                pending=len(app.engine.pending()) if app.engine else 0,
                plan_reason=self.plan_reason,
                filter_text=self.filter_text,
                problems_only=self.problems_only,
                sort=self.sort_column,
                sort_reverse=self.sort_reverse,
                failed_projects=sum(1 for s in self.snapshots.values() if s.error is not None),
            )
        )

    def selected_row(self) -> AccountRow | None:
        table = self.query_one(AccountsTable)
        if 0 <= table.cursor_row < len(table.rows):
            return table.rows[table.cursor_row]
        return None

    # -- events ----------------------------------------------------------------------------------
    @on(OptionList.OptionHighlighted, "#projects")
    def project_changed(self) -> None:
        self._render_table()

    @on(AccountsTable.RowHighlighted, "#accounts")
    def row_changed(self) -> None:
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

    # -- actions ---------------------------------------------------------------------------------
    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        if field.has_focus:
            # A slash typed inside the filter (a /regex/): hand it on in order.
            field.call_later(field.insert_text_at_cursor, "/")
            return
        # Synchronous: `focus()` is deferred, and keys typed right after `/` must land here.
        self.set_focus(field)
        field.cursor_position = len(field.value)  # refine the filter, don't replace it

    def action_problems(self) -> None:
        self.problems_only = not self.problems_only
        self._render_table()

    def action_cycle_sort(self) -> None:
        index = SORT_KEYS.index(self.sort_column)
        self.sort_column = SORT_KEYS[(index + 1) % len(SORT_KEYS)]
        self.sort_reverse = False
        self._render_table()

    def action_flip_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._render_table()

    def action_refresh(self) -> None:
        self.refresh_inventory()

    def action_details(self) -> None:
        row = self.selected_row()
        if row is None:
            return
        from .detail import DetailScreen

        snapshot = self.snapshots.get(row.project_id)
        self.app.push_screen(DetailScreen(row, snapshot))

    def action_copy_id(self) -> None:
        row = self.selected_row()
        if row is not None:
            self.app.copy_text(row.key, "account id")

    def action_export(self) -> None:
        stamp = self.app.clock.now().strftime("%Y%m%d-%H%M%S")
        base = Path.cwd() / f"layers-accounts-{stamp}"
        try:
            base.with_suffix(".csv").write_text(to_csv(self.visible_rows), encoding="utf-8")
            base.with_suffix(".json").write_text(to_json(self.visible_rows), encoding="utf-8")
        except OSError as error:
            self.app.notify(
                f"Export failed: {error.strerror} ({base.parent})", severity="error", markup=False
            )
            return
        self.app.notify(
            f"Exported {len(self.visible_rows)} rows to {base}.csv and .json",
            title="Export",
            markup=False,
        )

    def action_pending(self) -> None:
        from .pending import PendingScreen

        self.app.push_screen(PendingScreen())

    def action_help(self) -> None:
        from .help import HelpScreen

        self.app.push_screen(HelpScreen(self))

    def action_connect(self) -> None:
        if self.app.refuse_if_read_only("Connecting an account"):
            return
        project = self._target_project()
        if project is None:
            self.app.notify(
                "Pick a project on the left first (connect needs a project).", markup=False
            )
            return
        from .connect import ConnectDialog

        def chosen(platform: str | None) -> None:
            if platform:
                self.app.start_connect(project, platform)

        self.app.push_screen(ConnectDialog(project.name), chosen)

    def action_reauth(self) -> None:
        if self.app.refuse_if_read_only("Reconnecting an account"):
            return
        row = self.selected_row()
        if row is None:
            return
        if not row.can_reauth:
            why = (
                "leased accounts are managed by Layers"
                if row.leased
                else "a disconnected account cannot be reauthorised; press c for a new connection"
            )
            self.app.notify(f"Cannot reconnect {safe(row.name, 40)}: {why}.", markup=False)
            return
        self.app.start_reauth([row], self._timezones())

    def action_bulk_reauth(self) -> None:
        if self.app.refuse_if_read_only("Bulk reauth"):
            return
        selected = self.query_one(ProjectList).selected_project
        queue = [
            row
            for row in sort_rows(self.visible_rows, "status")
            if row.kind == "social"
            and row.status == "reauth_required"
            and (selected is None or row.project_id == selected)
        ]
        if not queue:
            self.app.notify("No account needs reauth here.", markup=False)
            return
        self.app.start_reauth(queue, self._timezones())

    def action_revoke(self) -> None:
        if self.app.refuse_if_read_only("Revoking an account"):
            return
        row = self.selected_row()
        if row is None:
            return
        if not row.can_revoke:
            why = {True: "leased accounts are released through Layers, not revoked"}.get(
                row.leased, "only connected social accounts can be revoked"
            )
            self.app.notify(f"Cannot revoke {safe(row.name, 40)}: {why}.", markup=False)
            return
        from .confirm import RevokeDialog

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.revoke(row)

        self.app.push_screen(RevokeDialog(row, live=self.app.is_live_key), confirmed)

    @work(group="revoke", exit_on_error=False)
    async def revoke(self, row: AccountRow) -> None:
        try:
            result = await self.app.client.revoke_social_account(row.key)
        except ApiError as error:
            self.post_message(ActionFailed(f"Revoke {safe(row.name, 40)}", error))
            return
        self.post_message(AccountRevoked(result, safe(row.name, 40), row.project_id))

    def _timezones(self) -> dict[str, str]:
        return {project.id: project.timezone for project in self.projects}

    def _target_project(self) -> Project | None:
        selected = self.query_one(ProjectList).selected_project
        if selected is not None:
            return self._project(selected)
        row = self.selected_row()
        return self._project(row.project_id) if row else None

    def _project(self, project_id: str) -> Project | None:
        return next((p for p in self.projects if p.id == project_id), None)


def _same_data(old: ProjectSnapshot, new: ProjectSnapshot) -> bool:
    return (
        old.project == new.project
        and old.social == new.social
        and old.ads == new.ads
        and (old.error is None) == (new.error is None)
    )
